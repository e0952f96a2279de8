"""Live events from the bus: an ephemeral ordered JetStream consumer on the relay's subjects.

The relay publishes every committed event once, in position order, as a serialized
RecordedEvent on `<prefix>.<category>.<stream id with '.' as '_'>` of one JetStream stream.
An ordered consumer is ephemeral (nothing is left behind on the server), flow-controlled,
and re-created by the client from the next sequence if it stalls, so no event is missed or
repeated while the tail runs.

The bus requires a NATS user on a secure stack. The tail connects as the one named in the URL
(``nats://user:password@host:port``, from --nats or FUNDLEDGER_NATS_URL), else as the local
stack's read-only tool user ``cli`` when the stack dir keeps its password
(``<stack dir>/credentials/nats-cli``), with that user's own inbox prefix.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nats
from fundledger.eventstore.v1 import events_pb2
from fundledger_platform.settings import DEFAULT_BUS_STREAM, DEFAULT_BUS_SUBJECT_PREFIX
from nats.errors import Error as NatsError
from nats.errors import NoServersError
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import DeliverPolicy
from nats.js.errors import NotFoundError

from fundledger_cli.errors import CliError, ExitCode

DEFAULT_STREAM = DEFAULT_BUS_STREAM
DEFAULT_PREFIX = DEFAULT_BUS_SUBJECT_PREFIX
# How long one wait for a message lasts before the time limit is checked again.
_POLL_SECONDS = 0.5
# The local stack's NATS user for tools like this tail, and where its password is kept.
TOOL_USER = "cli"
_TOOL_PASSWORD = Path("credentials") / f"nats-{TOOL_USER}"


@dataclass(frozen=True)
class BusUser:
    user: str
    password: str
    inbox_prefix: str


def bus_user(url: str, stack_dir: Path) -> BusUser | None:
    """The local stack's tool user, unless the URL names a user itself; None: connect as is."""
    if urllib.parse.urlsplit(url).username:
        return None
    try:
        password = (stack_dir / _TOOL_PASSWORD).read_text().strip()
    except OSError:
        return None
    # Its own inbox: the NATS users of the stack may subscribe only to their own prefix.
    return BusUser(TOOL_USER, password, f"_INBOX_{TOOL_USER}") if password else None


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
    user: BusUser | None = None


async def _ignore_error(_err: Exception) -> None:
    return None


async def tail(
    options: TailOptions,
    on_ready: Callable[[], None],
    on_event: Callable[[events_pb2.RecordedEvent], None],
) -> int:
    """Deliver events until `count` arrived or `seconds` passed; returns how many arrived."""
    login = options.user
    try:
        nc = await nats.connect(
            servers=[options.url],
            name="fundledger-cli-tail",
            connect_timeout=options.connect_timeout,
            allow_reconnect=False,
            error_cb=_ignore_error,
            **(
                {}
                if login is None
                else {
                    "user": login.user,
                    "password": login.password,
                    "inbox_prefix": login.inbox_prefix,
                }
            ),
        )
    except (NoServersError, OSError, TimeoutError) as exc:
        raise CliError(
            f"cannot reach NATS at {options.url} ({exc.__class__.__name__})",
            ExitCode.UNAVAILABLE,
            ["is the stack running? --nats or FUNDLEDGER_NATS_URL picks the address"],
        ) from None
    except NatsError as exc:
        if "authorization" not in str(exc).lower():
            raise
        raise CliError(
            f"NATS at {options.url} refused the connection (authorization violation)",
            ExitCode.UNAUTHENTICATED,
            [
                f"connected as {login.user!r}" if login else "connected without a NATS user",
                "name a user in the URL: --nats nats://USER:PASSWORD@HOST:PORT",
            ],
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
