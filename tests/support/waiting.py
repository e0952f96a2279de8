"""Waiting in tests for something that happens in the background (a relay publish, a consumer's
apply): poll a condition, bounded in time, and fail naming what never happened."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

DEFAULT_WAIT = 10.0


async def wait_until(
    check: Callable[[], Awaitable[bool]], what: str, within: float = DEFAULT_WAIT
) -> None:
    """Polls `check` every 50 ms until it is true; fails after `within` seconds."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {within:.0f}s waiting for {what}")
        await asyncio.sleep(0.05)
