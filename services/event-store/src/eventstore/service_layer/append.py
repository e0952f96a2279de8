"""Appending: the group-commit queue that turns concurrent appends into groups.

Commits are serial (every append transaction holds the `log_head` row lock
until it commits, so positions become visible in order — FM-1, docs/failure-modes.md), so the
only way to go fast is to make each commit carry many appends. One writer task
per process drains the queue of pending appends into one transaction (the
GroupWriter port, service_layer/ports.py; its SQL is adapters/group_write.py).
If a group's transaction fails (a deadlock with another replica, a lost
connection), each append is retried alone, so one bad apple cannot fail its
neighbours.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field

from fundledger_platform.errors import DomainError, Unavailable
from fundledger_platform.reasons import Reason

from eventstore.domain.model import AppendCommand, AppendResult
from eventstore.metrics import (
    APPEND_GROUP_SIZE,
    APPEND_SECONDS,
    EVENTS_APPENDED,
    IDEMPOTENT_REPLAYS,
)
from eventstore.service_layer.ports import GroupOutcome, GroupWriteInterrupted, GroupWriter

log = logging.getLogger(__name__)


@dataclass
class _Pending:
    command: AppendCommand
    future: asyncio.Future[AppendResult]
    queued_at: float = field(default_factory=time.perf_counter)


class Appender:
    """The append use case: `append(command)` resolves once the group holding it commits."""

    def __init__(
        self,
        writer: GroupWriter,
        *,
        max_group_appends: int = 256,
        max_group_events: int = 5000,
    ) -> None:
        self._writer = writer
        self._max_appends = max_group_appends
        self._max_events = max_group_events
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="appender")

    async def stop(self) -> None:
        """Finishes every queued append, then stops the writer (and lets it give back its
        connection, which the pool waits for when it closes)."""
        if self._task is None:
            return
        await self._queue.join()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        await self._writer.close()

    async def append(self, command: AppendCommand) -> AppendResult:
        if self._task is None:
            raise Unavailable("the event store is shutting down", reason=Reason.SHUTTING_DOWN)
        future: asyncio.Future[AppendResult] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(command, future))
        # Shielded: a caller that goes away must not cancel the write the group
        # may already have committed for it.
        return await asyncio.shield(future)

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            group = [first]
            events = len(first.command.events)
            while (
                not self._queue.empty()
                and len(group) < self._max_appends
                and events < self._max_events
            ):
                nxt = self._queue.get_nowait()
                group.append(nxt)
                events += len(nxt.command.events)
            try:
                await self._commit(group)
            except Exception:  # the loop must survive anything
                log.exception("append group failed unexpectedly")
                for p in group:
                    if not p.future.done():
                        p.future.set_exception(
                            Unavailable("append failed, retry", reason=Reason.APPEND_FAILED)
                        )
            finally:
                for _ in group:
                    self._queue.task_done()

    async def _commit(self, group: list[_Pending]) -> None:
        APPEND_GROUP_SIZE.observe(len(group))
        try:
            outcome = await self._run_group(group)
        except GroupWriteInterrupted as err:
            if len(group) == 1:
                await self._commit_alone(group[0], err)
                return
            log.warning("append group of %d failed (%s); retrying one by one", len(group), err)
            for p in group:
                await self._commit_alone(p, err)
            return
        self._resolve(group, outcome)

    async def _commit_alone(self, pending: _Pending, first_error: BaseException) -> None:
        err: BaseException = first_error
        for attempt in range(3):
            try:
                self._resolve([pending], await self._run_group([pending]))
                return
            except GroupWriteInterrupted as e:
                err = e
                await asyncio.sleep(0.01 * (attempt + 1))
        log.error("append failed after retries: %s", err)
        pending.future.set_exception(
            Unavailable("append failed, retry", reason=Reason.APPEND_FAILED)
        )

    @staticmethod
    def _resolve(group: list[_Pending], outcome: GroupOutcome) -> None:
        now = time.perf_counter()
        for i, p in enumerate(group):
            if p.future.done():
                continue
            APPEND_SECONDS.observe(now - p.queued_at)
            target = outcome.aliases.get(i, i)
            result = outcome.results[target]
            if isinstance(result, DomainError):
                p.future.set_exception(result)
            elif target != i:
                IDEMPOTENT_REPLAYS.inc()
                p.future.set_result(result.as_replay())
            else:
                if result.replayed:
                    IDEMPOTENT_REPLAYS.inc()
                else:
                    EVENTS_APPENDED.inc(len(result.event_ids))
                p.future.set_result(result)

    async def _run_group(self, group: list[_Pending]) -> GroupOutcome:
        return await self._writer.write([p.command for p in group])
