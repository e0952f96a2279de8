"""How far the projector is behind on the bench's funds, read from the database:
events appended to them (the event store's stream versions) against events applied
(the projector's row versions). Cheap enough to sample around a window, unlike
GetProjectionStatus, which reads up to 10,000 events from the event store."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

POLL_SECONDS = 0.25

PROGRESS = """
SELECT (SELECT coalesce(sum(version), 0) FROM eventstore.streams WHERE stream_id = ANY($1)),
       (SELECT coalesce(sum(version), 0) FROM projector.fund_state WHERE fund_id = ANY($1))
"""


@dataclass(frozen=True)
class Progress:
    at: float  # time.monotonic()
    appended: int
    applied: int

    @property
    def lag(self) -> int:
        return self.appended - self.applied


async def progress(dsn: str, funds: Sequence[str]) -> Progress:
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow(PROGRESS, list(funds))
    finally:
        await conn.close()
    assert row is not None
    return Progress(time.monotonic(), int(row[0]), int(row[1]))


def rates(before: Progress, after: Progress) -> tuple[float, float]:
    """(appended, applied) per second between two samples."""
    seconds = after.at - before.at
    if seconds <= 0:
        return 0.0, 0.0
    return (after.appended - before.appended) / seconds, (after.applied - before.applied) / seconds


async def wait_applied(dsn: str, funds: Sequence[str], within: float) -> tuple[float, int]:
    """Until the projector has applied every event of `funds`: (seconds waited, lag left)."""
    started = time.monotonic()
    lag = 0
    for _ in range(int(within / POLL_SECONDS) + 1):
        lag = (await progress(dsn, funds)).lag
        if lag <= 0 or time.monotonic() - started >= within:
            break
        await asyncio.sleep(POLL_SECONDS)
    return time.monotonic() - started, lag
