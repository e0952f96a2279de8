"""A durable JetStream consumer of the event log, for read models.

Delivery is at least once, so handlers must be idempotent by stream version
(apply version v only when the stored version is v - 1; skip v <= stored; fill a
gap from the event store) and commit that check with their write in one
transaction. This class only guarantees:
- a message is acknowledged (ack_sync, so the ack is confirmed) only after its
  handler returned, i.e. after the handler's commit; a crash in between means a
  redelivery, which the version check turns into a no-op (pitfall 12);
- events of one stream are handled in the order delivered, one at a time, while
  different streams proceed in parallel;
- a handler slower than ack_wait keeps its message with in_progress() instead
  of getting a duplicate delivered behind its back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fundledger.eventstore.v1.events_pb2 import RecordedEvent
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from opentelemetry import context as otel_context

from fundledger_platform.telemetry import extract_context, tracer

log = logging.getLogger(__name__)

Handler = Callable[[RecordedEvent], Awaitable[None]]


@dataclass(frozen=True)
class ConsumerSettings:
    stream: str
    durable: str
    filter_subject: str
    batch_size: int = 256
    ack_wait_seconds: float = 30.0
    max_deliver: int = -1
    fetch_timeout_seconds: float = 1.0


class BusConsumer:
    def __init__(self, js: JetStreamContext, settings: ConsumerSettings, handler: Handler) -> None:
        self._js = js
        self._settings = settings
        self._handler = handler
        self._tracer = tracer(__name__)
        self._task: asyncio.Task[None] | None = None
        self._subscription: JetStreamContext.PullSubscription | None = None
        self.delivered = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"consumer-{self._settings.durable}")

    async def stop(self) -> None:
        if self._task is not None:
            task, self._task = self._task, None
            while not task.done():  # a library wait_for may swallow one cancel
                task.cancel()
                await asyncio.wait({task}, timeout=0.5)
        if self._subscription is not None:
            # Without this a later drain() of the connection waits for messages
            # that arrived after the cancel and times out (30 s).
            subscription, self._subscription = self._subscription, None
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()

    async def _subscribe(self) -> JetStreamContext.PullSubscription:
        s = self._settings
        config = ConsumerConfig(
            durable_name=s.durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=s.ack_wait_seconds,
            max_deliver=s.max_deliver,
            max_ack_pending=s.batch_size * 4,
            filter_subject=s.filter_subject,
        )
        return await self._js.pull_subscribe(
            s.filter_subject, durable=s.durable, stream=s.stream, config=config
        )

    async def _run(self) -> None:
        while True:
            try:
                subscription = self._subscription = await self._subscribe()
                while True:
                    try:
                        messages = await subscription.fetch(
                            self._settings.batch_size, timeout=self._settings.fetch_timeout_seconds
                        )
                    except (TimeoutError, NatsTimeoutError):
                        continue
                    await self._handle_batch(messages)
            except asyncio.CancelledError:
                raise
            except Exception as err:
                # The bus went away or lost the consumer (wiped store): start over.
                # Read models also catch up from the log itself, so nothing is lost.
                log.warning("consumer %s: %s; resubscribing", self._settings.durable, err)
                await asyncio.sleep(1.0)

    async def _handle_batch(self, messages: list[Msg]) -> None:
        by_stream: dict[str, list[tuple[Msg, RecordedEvent]]] = {}
        for msg in messages:
            event = RecordedEvent.FromString(msg.data)
            by_stream.setdefault(event.stream_id, []).append((msg, event))
        await asyncio.gather(*(self._handle_stream(items) for items in by_stream.values()))

    async def _handle_stream(self, items: list[tuple[Msg, RecordedEvent]]) -> None:
        for index, (msg, event) in enumerate(items):
            try:
                await self._handle_one(msg, event)
            except Exception:
                log.exception(
                    "handler failed for %s v%d; it will be redelivered",
                    event.stream_id,
                    event.version,
                )
                # Later events of this stream must not overtake the failed one:
                # leave them unacknowledged too, so they come back after it.
                for later, _ in items[index:]:
                    with contextlib.suppress(Exception):
                        await later.nak(delay=1.0)
                return

    async def _handle_one(self, msg: Msg, event: RecordedEvent) -> None:
        headers = msg.headers or {}
        token = otel_context.attach(extract_context(headers))
        try:
            with self._tracer.start_as_current_span(
                f"consume {self._settings.durable}",
                attributes={
                    "fundledger.stream_id": event.stream_id,
                    "fundledger.version": event.version,
                },
            ):
                keeper = asyncio.create_task(self._keep_alive(msg))
                try:
                    await self._handler(event)
                finally:
                    keeper.cancel()
                await msg.ack_sync()
                self.delivered += 1
        finally:
            otel_context.detach(token)

    async def _keep_alive(self, msg: Msg) -> None:
        interval = max(self._settings.ack_wait_seconds / 3, 0.1)
        while True:
            await asyncio.sleep(interval)
            with contextlib.suppress(Exception):
                await msg.in_progress()
