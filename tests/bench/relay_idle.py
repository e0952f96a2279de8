"""Waiting (bounded) until the event store's relay has published everything committed,
so that a phase's leftover backlog does not land in the next phase's figures."""

from __future__ import annotations

import asyncio
import time

import asyncpg

from tests.bench.loader import RELAY_NAME

POLL_SECONDS = 0.5

LAG = """
SELECT (SELECT last_position FROM eventstore.log_head)
     - coalesce((SELECT position FROM eventstore.relay_checkpoints WHERE name = $1), 0)
"""


async def relay_lag(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval(LAG, RELAY_NAME))
    finally:
        await conn.close()


async def wait_relay_idle(dsn: str, within: float) -> tuple[float, int]:
    """(seconds waited, events still unpublished: 0 unless the timeout was reached)."""
    started = time.monotonic()
    conn = await asyncpg.connect(dsn)
    try:
        for _ in range(int(within / POLL_SECONDS) + 1):
            lag = int(await conn.fetchval(LAG, RELAY_NAME))
            if lag <= 0 or time.monotonic() - started >= within:
                return time.monotonic() - started, max(0, lag)
            await asyncio.sleep(POLL_SECONDS)
        return time.monotonic() - started, max(0, lag)
    finally:
        await conn.close()
