"""Live events from the bus: an ephemeral ordered JetStream consumer on the relay's subjects.

The relay publishes every committed event once, in position order, as a serialized
RecordedEvent on `<prefix>.<category>.<stream id with '.' as '_'>` of one JetStream stream.
An ordered consumer is ephemeral (nothing is left behind on the server), flow-controlled,
and re-created by the client from the next sequence if it stalls, so no event is missed or
repeated while the tail runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import nats
from fundledger.eventstore.v1 import events_pb2
from fundledger_platform.settings import DEFAULT_BUS_STREAM, DEFAULT_BUS_SUBJECT_PREFIX
from nats.errors import NoServersError
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import DeliverPolicy
from nats.js.errors import NotFoundError

from fundledger_cli.errors import CliError, ExitCode

DEFAULT_STREAM = DEFAULT_BUS_STREAM
DEFAULT_PREFIX = DEFAULT_BUS_SUBJECT_PREFIX
# How long one wait for a message lasts before the time limit is checked again.
_POLL_SECONDS = 0.5


def subject_for(prefix: str, category: str | None, stream_id: str | None) -> str:
    if stream_id:
        category_part, _, _ = stream_id.partition("-")
        return f"{prefix}.{category_part}.{stream_id.replace('.', '_')}"
    if category:
        return f"{prefix}.{category}.>"
    return f"{prefix}.>"


@dataclass(frozen=True)
class TailOptions:
    url: str
    bus_stream: str
    subject: str
    from_start: bool
    count: int | None
    seconds: float | None
    connect_timeout: float


async def _ignore_error(_err: Exception) -> None:
    return None


async def tail(
    options: TailOptions,
    on_ready: Callable[[], None],
    on_event: Callable[[events_pb2.RecordedEvent], None],
) -> int:
    """Deliver events until `count` arrived or `seconds` passed; returns how many arrived."""
    try:
        nc = await nats.connect(
            servers=[options.url],
            name="fundledger-cli-tail",
            connect_timeout=options.connect_timeout,
            allow_reconnect=False,
            error_cb=_ignore_error,
        )
    except (NoServersError, OSError, TimeoutError) as exc:
        raise CliError(
            f"cannot reach NATS at {options.url} ({exc.__class__.__name__})",
            ExitCode.UNAVAILABLE,
            ["is the stack running? --nats or FUNDLEDGER_NATS_URL picks the address"],
        ) from None
    received = 0
    try:
        js = nc.jetstream()
        try:
            sub = await js.subscribe(
                options.subject,
                stream=options.bus_stream,
                ordered_consumer=True,
                deliver_policy=DeliverPolicy.ALL if options.from_start else DeliverPolicy.NEW,
            )
        except NotFoundError:
            raise CliError(
                f"the bus has no JetStream stream {options.bus_stream!r}",
                ExitCode.NOT_FOUND,
                ["--bus-stream names it (the event store's FUNDLEDGER_BUS_STREAM)"],
            ) from None
        on_ready()
        loop = asyncio.get_running_loop()
        deadline = None if options.seconds is None else loop.time() + options.seconds
        while options.count is None or received < options.count:
            wait = _POLL_SECONDS
            if deadline is not None:
                wait = min(wait, deadline - loop.time())
                if wait <= 0:
                    break
            try:
                msg = await sub.next_msg(timeout=wait)
            except NatsTimeout:
                continue
            on_event(events_pb2.RecordedEvent.FromString(msg.data))
            received += 1
    finally:
        await nc.close()
    return received
