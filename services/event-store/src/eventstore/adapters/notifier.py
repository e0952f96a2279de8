"""Fan-out of the log's append notifications to Subscribe streams.

A wake-up, not a queue (FM-15, docs/failure-modes.md): subscribers re-read the log from their
own position after every wake-up and also on a timer, so a notification lost
while the listening connection was down costs at most one poll interval.

The relay can follow it too (`follow`, Relay(notifier=...)) instead of listening on a
connection of its own: on PostgreSQL 15 every idle listening backend runs one transaction per
NOTIFY to read the queue (measured: 300 notifications, 300 more transactions per listener), so
each listener costs the database a transaction per commit. A follower is told each
notification's payload (the group's last position), or None when the listener was lost and
notifications may have been missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import asyncpg

from eventstore.adapters.group_write import NOTIFY_CHANNEL

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._event = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._followers: list[Callable[[str | None], None]] = []

    def current(self) -> asyncio.Event:
        """The event the next notification sets; take it *before* reading the log,
        so a notification that lands between the read and the wait is not missed."""
        return self._event

    def follow(self, follower: Callable[[str | None], None]) -> None:
        """Calls `follower` with every notification's payload (None: some may be lost)."""
        self._followers.append(follower)

    def unfollow(self, follower: Callable[[str | None], None]) -> None:
        with contextlib.suppress(ValueError):
            self._followers.remove(follower)

    def _on_notify(self, *args: object) -> None:
        # asyncpg's (connection, pid, channel, payload); none after a lost listener.
        payload = str(args[3]) if len(args) > 3 else None
        for follower in list(self._followers):
            follower(payload)
        event, self._event = self._event, asyncio.Event()
        event.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="notifier")

    async def stop(self) -> None:
        if self._task is not None:
            task, self._task = self._task, None
            while not task.done():  # a cancel can be swallowed by a library wait_for
                task.cancel()
                await asyncio.wait({task}, timeout=0.5)

    async def _run(self) -> None:
        first = True
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(
                    self._dsn, server_settings={"application_name": "event-store-notifier"}
                )
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _, lost=lost: lost.set())
                await conn.add_listener(NOTIFY_CHANNEL, self._on_notify)
                if not first:
                    # Listening again: what committed while nobody listened was never told.
                    self._on_notify()
                first = False
                await lost.wait()
            except asyncio.CancelledError:
                raise
            except Exception as err:
                log.warning("notification listener lost: %s", err)
            finally:
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(conn.close(), 2)
            # Wake everyone: they re-read the log, so nothing is lost meanwhile.
            self._on_notify()
            await asyncio.sleep(1.0)
