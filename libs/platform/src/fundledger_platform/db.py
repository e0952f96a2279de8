"""PostgreSQL connection pools (asyncpg) with FundLedger's session defaults."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

import asyncpg

logger = logging.getLogger(__name__)

# A session left "idle in transaction" (a crashed handler, a forgotten
# ``async with conn.transaction()``) keeps its snapshot open, and PostgreSQL's
# xid horizon cannot advance past the oldest open snapshot: VACUUM stops
# reclaiming dead rows in *every* table, for every reader, and the relay's
# "read below the oldest in-flight transaction" rule stalls behind it. The
# server ends such a session after this long instead.
IDLE_IN_TRANSACTION_TIMEOUT_MS = 60_000

PING_TIMEOUT_SECONDS = 2.0


async def create_pool(
    dsn: str,
    *,
    min_size: int = 2,
    max_size: int = 10,
    application_name: str = "fundledger",
    command_timeout: float = 30.0,
    server_settings: Mapping[str, str] | None = None,
) -> asyncpg.Pool:
    """A pool whose sessions are named (visible in ``pg_stat_activity``) and time-limited."""
    pool: asyncpg.Pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        command_timeout=command_timeout,
        server_settings={
            "application_name": application_name,
            "idle_in_transaction_session_timeout": str(IDLE_IN_TRANSACTION_TIMEOUT_MS),
            **(server_settings or {}),
        },
    )
    return pool


_GONE = (
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,  # starting up or shutting down
    asyncpg.AdminShutdownError,  # terminated by a shutdown or a failover
    asyncpg.CrashShutdownError,
    # Mid-switchover with several hosts in the URL (target_session_attrs=read-write): none is
    # the primary yet. And a write that reached a server in recovery: the primary moved.
    asyncpg.exceptions.TargetServerAttributeNotMatched,
    asyncpg.ReadOnlySQLTransactionError,
)


def connection_lost(err: BaseException) -> bool:
    """Whether `err` means the database connection is gone (the server restarted, failed over,
    or is unreachable) or reached no primary, not that the statement was wrong: the same call
    may succeed later."""
    if isinstance(err, _GONE):
        return True
    if isinstance(err, asyncpg.InterfaceError):
        # A connection the pool took back when it died, or one closed under the caller.
        text = str(err)
        return "connection is closed" in text or "released back to the pool" in text
    # Refused or reset while connecting or talking (asyncpg raises the socket's own error).
    return isinstance(err, ConnectionError)


async def ping(pool: asyncpg.Pool, timeout_seconds: float = PING_TIMEOUT_SECONDS) -> bool:
    """True when the database answers ``SELECT 1`` in time (a readiness check)."""
    try:
        # One budget for both waiting on the pool and the query itself.
        async with asyncio.timeout(timeout_seconds), pool.acquire() as conn:
            await conn.fetchval("SELECT 1")
    except Exception as err:  # any failure means "not ready", never a crash
        logger.debug("database ping failed: %r", err)
        return False
    return True
