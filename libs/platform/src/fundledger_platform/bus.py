"""The NATS connection and JetStream stream set-up shared by every service."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

from nats.aio.client import Client, Server
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

from fundledger_platform.settings import env_str

logger = logging.getLogger(__name__)

# Reconnect delays grow 0.25s, 0.5s, 1s … up to this cap, with jitter so a
# fleet of services does not hit a restarted NATS server in lock step.
BACKOFF_BASE_SECONDS = 0.25
BACKOFF_MAX_SECONDS = 5.0

# Where replies to this client's requests arrive (FUNDLEDGER_NATS_INBOX_PREFIX). With per-service
# NATS users each service gets a private prefix (say _INBOX.projector) and may subscribe only
# under it, so no other client can read its JetStream replies or pulled messages.
INBOX_PREFIX_SETTING = "NATS_INBOX_PREFIX"
DEFAULT_INBOX_PREFIX = "_INBOX"

# JetStream API error code for "stream name already in use" (a concurrent create).
_STREAM_NAME_IN_USE = 10058

# JetStream keeps a stream on 1 to 5 servers (its Raft group); a single server accepts 1 only.
MAX_STREAM_REPLICAS = 5


def _backoff(attempt: int) -> float:
    ceiling = min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2 ** min(attempt, 16))
    return random.uniform(ceiling / 2, ceiling)


def _pick_server(servers: list[Server], _info: dict[str, Any]) -> tuple[Server | None, float]:
    # The least-failed server first, so a cluster URL list is rotated through
    # rather than hammering its first entry.
    server = min(servers, key=lambda s: s.reconnects)
    return server, _backoff(server.reconnects)


async def connect_bus(
    url: str,
    name: str,
    *,
    initial_timeout_seconds: float | None = None,
    inbox_prefix: str | None = None,
) -> Client:
    """Connect to NATS (``url`` may list servers, comma-separated); never give up reconnecting.

    After the first connection the client reconnects forever with bounded,
    jittered backoff, replaying its subscriptions; disconnects and reconnects
    are logged. The first connection is retried too, for up to
    ``initial_timeout_seconds`` (None = until it succeeds). ``inbox_prefix`` (default:
    FUNDLEDGER_NATS_INBOX_PREFIX, else ``_INBOX``) is where replies arrive. Credentials in
    the URL (``nats://user:password@host:port``) never reach a log line.
    """
    if inbox_prefix is None:
        inbox_prefix = env_str(INBOX_PREFIX_SETTING, DEFAULT_INBOX_PREFIX)
    nc = Client()

    async def on_error(err: Exception) -> None:
        # Expected while NATS is down: one line, no traceback.
        logger.warning("nats %s: %r", name, err)

    async def on_disconnected() -> None:
        # close() reports a disconnect too; only an unplanned one is news.
        if not nc.is_closed:
            logger.warning("nats %s: disconnected", name)

    async def on_reconnected() -> None:
        where = nc.connected_url
        address = f"{where.hostname}:{where.port}" if where else "?"
        logger.info("nats %s: reconnected to %s", name, address)

    async def on_closed() -> None:
        logger.info("nats %s: connection closed", name)

    connecting = nc.connect(
        servers=[part.strip() for part in url.split(",") if part.strip()],
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,  # between first-connection attempts only
        reconnect_to_server_handler=_pick_server,
        error_cb=on_error,
        disconnected_cb=on_disconnected,
        reconnected_cb=on_reconnected,
        closed_cb=on_closed,
        inbox_prefix=inbox_prefix,
    )
    try:
        await asyncio.wait_for(connecting, initial_timeout_seconds)
    except BaseException:
        await nc.close()
        raise
    logger.info("nats %s: connected to %s", name, redact_url(url))
    return nc


def redact_url(url: str) -> str:
    """``url`` (one server or a comma-separated list) without user names and passwords."""
    return ",".join(_without_userinfo(part.strip()) for part in url.split(",") if part.strip())


def _without_userinfo(server: str) -> str:
    scheme, sep, rest = server.rpartition("://")
    host = rest.rpartition("@")[2]
    return f"{scheme}{sep}{host}" if "@" in rest else server


def closing_bus(nc: Client, *, drain: bool) -> Callable[[], Awaitable[None]]:
    """A shutdown step for the service's bus connection. drain=True flushes what was published
    first (a publisher's last messages); a service that only consumes closes outright, since
    drain() would wait for its stopped pull subscription's in-flight messages."""

    async def close() -> None:
        with contextlib.suppress(Exception):
            await (nc.drain() if drain else nc.close())

    return close


def bus_connected(nc: Client) -> bool:
    """True while the client holds a live connection (for readiness checks)."""
    return bool(nc.is_connected)


async def ensure_stream(
    js: JetStreamContext,
    name: str,
    subjects: list[str],
    *,
    duplicate_window_seconds: float = 600,
    max_age_seconds: float | None = None,
    replicas: int = 1,
) -> None:
    """Create the file-storage stream, or bring an existing one to this configuration.

    Idempotent and safe to race: every service instance may call it at start-up.
    ``duplicate_window_seconds`` is how long JetStream remembers ``Nats-Msg-Id``
    values to drop re-published messages — the relay's exactly-once publish
    depends on it outlasting any relay retry. ``replicas`` is how many servers of a
    JetStream cluster hold the stream (1 to 5): 3 survives the loss of one server
    without losing an acknowledged message. A single server accepts 1 only; asking it
    for more fails here, at start-up, rather than running with fewer copies than set.
    """
    if not 1 <= replicas <= MAX_STREAM_REPLICAS:
        raise ValueError(f"stream replicas must be 1 to {MAX_STREAM_REPLICAS}, not {replicas}")
    wanted = StreamConfig(
        name=name,
        subjects=list(subjects),
        storage=StorageType.FILE,
        duplicate_window=duplicate_window_seconds,
        max_age=max_age_seconds,
        num_replicas=replicas,
    )
    try:
        info = await js.stream_info(name)
    except NotFoundError:
        try:
            await js.add_stream(wanted)
            logger.info("created stream %s for %s", name, ", ".join(subjects))
            return
        except BadRequestError as err:
            if err.err_code != _STREAM_NAME_IN_USE:
                raise
            info = await js.stream_info(name)  # another instance created it first
    current = info.config
    if current.storage not in (None, StorageType.FILE):
        raise ValueError(f"stream {name} uses {current.storage} storage; it must be file storage")
    if _same(current, wanted):
        return
    await js.update_stream(wanted)
    logger.info("updated stream %s to subjects %s", name, ", ".join(subjects))


def _same(current: StreamConfig, wanted: StreamConfig) -> bool:
    # The server reports "no limit" as 0 where we pass None.
    return (
        set(current.subjects or []) == set(wanted.subjects or [])
        and (current.duplicate_window or 0) == (wanted.duplicate_window or 0)
        and (current.max_age or 0) == (wanted.max_age or 0)
        and (current.num_replicas or 1) == (wanted.num_replicas or 1)
    )
