"""A durable JetStream consumer of the event log, for read models.

Delivery is at least once, so handlers must be idempotent by stream version
(apply version v only when the stored version is v - 1; skip v <= stored; fill a
gap from the event store) and commit that check with their write in one
transaction. This class only guarantees:
- a message is acknowledged (ack_sync, so the ack is confirmed, unless
  `confirm_acks` is off) only after its handler returned, i.e. after the
  handler's commit; a crash in between means a redelivery, which the version
  check turns into a no-op (FM-12, docs/failure-modes.md);
- events of one stream are handled in the order delivered, one at a time, while
  different streams proceed in parallel;
- a handler slower than ack_wait keeps its message with in_progress() instead
  of getting a duplicate delivered behind its back.

The consumer is pipelined: fetching never waits for handlers. Fetched messages
queue per stream, and each stream has at most one handler call running, given
everything queued for that stream when it starts (in delivery order; a read
model applies them in one transaction). All of them are acknowledged after it
returned, or all (and what queued behind them) left to redelivery when it
failed. Confirmed acks are awaited in the background, so the stream's next call
need not wait for them. An event thus waits only for its own stream's previous
call, not for a whole fetched batch of other streams. Messages in hand are
bounded (2 x batch_size, besides the bus's max_ack_pending). One span per call,
started under the first message's trace context and linked to the others'.

A stream whose log cannot be folded (the handler raised the kernel's
FundLogError: a gap the event store cannot fill, an unreadable payload) is
halted instead of redelivered forever: its messages are terminated (the log,
not the bus, is the truth, and a restarted consumer fills from it), later
messages of that stream are terminated unhandled, the halt is logged and
counted (fundledger_consumer_halted_streams, an alert), and every other stream
keeps flowing. The halt lasts until the process restarts, after an operator
repaired the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from fundledger.eventstore.v1.events_pb2 import RecordedEvent
from fundledger_kernel.fund.fold_input import FundLogError
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from opentelemetry import context as otel_context
from opentelemetry import trace
from prometheus_client import Counter, Gauge

from fundledger_platform.telemetry import extract_context, tracer

log = logging.getLogger(__name__)

BatchHandler = Callable[[Sequence[RecordedEvent]], Awaitable[None]]
"""Called with one stream's events of one fetch, in delivery order."""

HALTED_STREAMS = Gauge(
    "fundledger_consumer_halted_streams",
    "Streams a bus consumer stopped applying because their log cannot be folded"
    " (a gap the event store cannot fill, an unreadable payload); cleared by a restart.",
    ["durable"],
    # Several workers per pod: only worker 0 runs consumers, so the sum is its value.
    multiprocess_mode="livesum",
)
HALTED_MESSAGES = Counter(
    "fundledger_consumer_halted_messages_total",
    "Messages of halted streams terminated without being applied.",
    ["durable"],
)


@dataclass(frozen=True)
class ConsumerSettings:
    stream: str
    durable: str
    filter_subject: str
    batch_size: int = 256
    ack_wait_seconds: float = 30.0
    max_deliver: int = -1
    fetch_timeout_seconds: float = 1.0
    # False: acknowledge with a plain ack (no reply awaited; the
    # client's flusher sends many in one write). A lost ack only means a
    # redelivery after ack_wait, which an idempotent handler skips.
    confirm_acks: bool = True


class BusConsumer:
    def __init__(
        self,
        js: JetStreamContext,
        settings: ConsumerSettings,
        handler: BatchHandler,
    ) -> None:
        self._js = js
        self._settings = settings
        self._handler = handler
        self._span_name = f"consume {settings.durable}"
        # Messages queued per stream, the stream's running worker, and how many
        # messages are in hand (queued or being handled).
        self._queued: dict[str, list[tuple[Msg, RecordedEvent]]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._in_flight = 0
        self._room = asyncio.Event()
        self._acking: set[asyncio.Task[None]] = set()
        self._handling: dict[int, list[Msg]] = {}
        self._tracer = tracer(__name__)
        self._task: asyncio.Task[None] | None = None
        self._subscription: JetStreamContext.PullSubscription | None = None
        self.delivered = 0
        # Streams halted by an unfoldable log, with why (see the module docstring).
        self.halted: dict[str, str] = {}
        self._halted_gauge = HALTED_STREAMS.labels(settings.durable)
        self._halted_messages = HALTED_MESSAGES.labels(settings.durable)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"consumer-{self._settings.durable}")

    async def stop(self) -> None:
        if self._task is not None:
            task, self._task = self._task, None
            while not task.done():  # a library wait_for may swallow one cancel
                task.cancel()
                await asyncio.wait({task}, timeout=0.5)
        await self._stop_workers()
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
                await self._pipeline(subscription)  # returns only by raising
            except asyncio.CancelledError:
                raise
            except Exception as err:
                # The bus went away or lost the consumer (wiped store): start over.
                # Read models also catch up from the log itself, so nothing is lost.
                log.warning("consumer %s: %s; resubscribing", self._settings.durable, err)
                await asyncio.sleep(1.0)

    async def _pipeline(self, subscription: JetStreamContext.PullSubscription) -> None:
        """Fetch while handlers run (see the module docstring)."""
        limit = self._settings.batch_size * 2
        keep_alive = asyncio.create_task(self._keep_handled_alive())
        try:
            while True:
                room = limit - self._in_flight
                if room <= 0:
                    self._room.clear()
                    await self._room.wait()
                    continue
                try:
                    messages = await subscription.fetch(
                        min(room, self._settings.batch_size),
                        timeout=self._settings.fetch_timeout_seconds,
                    )
                except (TimeoutError, NatsTimeoutError):
                    continue
                for msg in messages:
                    event = RecordedEvent.FromString(msg.data)
                    if event.stream_id in self.halted:
                        await self._terminate([msg])
                        continue
                    self._queued.setdefault(event.stream_id, []).append((msg, event))
                    self._in_flight += 1
                    if event.stream_id not in self._workers:
                        self._workers[event.stream_id] = asyncio.create_task(
                            self._work(event.stream_id)
                        )
        finally:
            keep_alive.cancel()
            # Unacknowledged messages come back after ack_wait (to whoever subscribes).
            await self._stop_workers()

    async def _work(self, stream_id: str) -> None:
        """One stream's handler calls, one after another, until its queue is empty."""
        try:
            while True:
                items = self._queued.pop(stream_id, None)
                if not items:
                    return
                try:
                    ok = await self._handle_batch_of(items)
                    if not ok:
                        # Later events of this stream must not overtake the failed
                        # ones: leave what queued meanwhile unacknowledged too.
                        later = self._queued.pop(stream_id, [])
                        self._in_flight -= len(later)
                        if stream_id in self.halted:
                            await self._terminate([msg for msg, _ in later])
                            continue
                        for msg, _ in later:
                            with contextlib.suppress(Exception):
                                await msg.nak(delay=1.0)
                finally:
                    self._in_flight = max(0, self._in_flight - len(items))
                    self._room.set()
        finally:
            # No await between finding the queue empty and this: a message fetched
            # for this stream either found this worker's entry or starts a new one.
            if self._workers.get(stream_id) is asyncio.current_task():
                del self._workers[stream_id]

    async def _stop_workers(self) -> None:
        workers = list(self._workers.values())
        for task in workers:
            task.cancel()
        if workers:
            with contextlib.suppress(BaseException):
                await asyncio.wait(workers, timeout=5.0)
        self._workers.clear()
        self._queued.clear()
        self._in_flight = 0
        self._room.set()
        if self._acking:  # let the acks of committed work reach the bus
            with contextlib.suppress(BaseException):
                await asyncio.wait(set(self._acking), timeout=5.0)

    async def _handle_batch_of(self, items: list[tuple[Msg, RecordedEvent]]) -> bool:
        """One batch-handler call for one stream's messages; acks all after it, or none.

        False when the handler failed (the messages were left to redelivery, or the
        stream was halted)."""
        messages = [msg for msg, _ in items]
        events = [event for _, event in items]
        first = events[0]
        contexts = [extract_context(msg.headers) for msg in messages]
        links = [
            trace.Link(span_context)
            for context in contexts[1:]
            if (span_context := trace.get_current_span(context).get_span_context()).is_valid
        ]
        token = otel_context.attach(contexts[0])
        try:
            with self._tracer.start_as_current_span(
                self._span_name,
                links=links,
                attributes={
                    "fundledger.stream_id": first.stream_id,
                    "fundledger.version": first.version,
                    "fundledger.last_version": events[-1].version,
                    "messaging.batch.message_count": len(events),
                },
            ):
                handling = self._handling
                key = id(messages)
                handling[key] = messages  # kept alive by _keep_handled_alive
                try:
                    await self._handler(events)
                except FundLogError as err:
                    self._halt(first.stream_id, err)
                    await self._terminate(messages)
                    return False
                except Exception:
                    log.exception(
                        "handler failed for %s v%d..v%d; they will be redelivered",
                        first.stream_id,
                        first.version,
                        events[-1].version,
                    )
                    for msg in messages:
                        with contextlib.suppress(Exception):
                            await msg.nak(delay=1.0)
                    return False
                finally:
                    handling.pop(key, None)
                if not self._settings.confirm_acks:
                    await self._ack_all(first.stream_id, messages)  # no round trip
                    return True
                # Confirmed acks, sent together and awaited in the background: the
                # stream's next messages need not wait for the bus's confirmation.
                acking = asyncio.create_task(self._ack_all(first.stream_id, messages))
                self._acking.add(acking)
                acking.add_done_callback(self._acking.discard)
                return True
        finally:
            otel_context.detach(token)

    def _halt(self, stream_id: str, err: FundLogError) -> None:
        self.halted[stream_id] = str(err)
        self._halted_gauge.set(len(self.halted))
        log.error(
            "consumer %s halted %s: its log cannot be folded (%s); its events are no longer"
            " applied until an operator repairs the log and restarts the service",
            self._settings.durable,
            stream_id,
            err,
            extra={"stream_id": stream_id, "version": err.version},
        )

    async def _terminate(self, messages: Sequence[Msg]) -> None:
        for msg in messages:
            with contextlib.suppress(Exception):
                await msg.term()
        self._halted_messages.inc(len(messages))

    async def _keep_handled_alive(self) -> None:
        """in_progress() for every message whose handler is still running."""
        interval = max(self._settings.ack_wait_seconds / 3, 0.1)
        while True:
            await asyncio.sleep(interval)
            for messages in list(self._handling.values()):
                for msg in messages:
                    with contextlib.suppress(Exception):
                        await msg.in_progress()

    async def _ack_all(self, stream_id: str, messages: list[Msg]) -> None:
        if not self._settings.confirm_acks:
            for msg in messages:
                try:
                    await msg.ack()
                except Exception as err:
                    log.warning("ack failed for %s: %r", stream_id, err)
                else:
                    self.delivered += 1
            return
        acks = await asyncio.gather(*(msg.ack_sync() for msg in messages), return_exceptions=True)
        self.delivered += sum(1 for ack in acks if not isinstance(ack, BaseException))
        failed = next((ack for ack in acks if isinstance(ack, BaseException)), None)
        if failed is not None:
            # Redelivered after ack_wait and skipped by the version check: harmless.
            log.warning("ack failed for %s: %r", stream_id, failed)
