"""Catch-up from the log: the bus is a fast path, the event store is the truth.

JetStream can lose acknowledged messages (a wiped or crashed store, FM-13 in docs/failure-modes.md),
a message past its max-age is gone, and a fund whose last events were lost never
gets a later delivery to trigger a gap fill. So at start-up and every
PROJECTOR_CATCHUP_SECONDS the projector reads every fund event after its
checkpoint from the event store and sends it through the same exactly-once
path; what the bus already applied is skipped as a duplicate.

The checkpoint is "every fund event at or below it is applied", moved only here
after a page was applied completely. It is deliberately not the highest
position applied: the bus applies funds in parallel and out of global order, so
fund B's event at position 11 can be applied while fund A's event at 10 is
still lost, and resuming after 11 would skip A's event for good. Reading the log
in position order is safe because the event store commits in position order:
nothing can appear below a position already read.

A fund whose log cannot be folded (FundLogError: an unreadable payload, a gap the
event store cannot fill) is set aside: logged once, its events skipped until the
process restarts, while every other fund goes on. The stored checkpoint stays
below its first unapplied event, so the restart after an operator repaired the
log applies it; this process reads on from where it got to instead, so the
catch-up neither stops nor reads the same stretch of log again and again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from fundledger_kernel.fund import FOLD_VERSION
from fundledger_kernel.fund.fold_input import FundLogError, LoggedEvent
from fundledger_platform.errors import Unavailable

from projector.domain.batches import by_fund
from projector.metrics import DUPLICATES_SKIPPED
from projector.service_layer.applier import Applier
from projector.service_layer.apply import Outcome
from projector.service_layer.ports import EventLog, ProjectionRows

log = logging.getLogger(__name__)

STALE_BATCH = 100


class CatchUp:
    def __init__(
        self,
        applier: Applier,
        rows: ProjectionRows,
        source: EventLog,
        *,
        page_size: int,
        interval_seconds: float,
        after_pass: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self._applier = applier
        self._rows = rows
        self._source = source
        self._page_size = page_size
        self._interval = interval_seconds
        self._after_pass = after_pass
        # One pass at a time per process: two would only do the same work twice.
        self._lock = asyncio.Lock()
        # How far this process has read (ahead of the stored checkpoint while a fund
        # is set aside).
        self._cursor = 0
        # Funds set aside (why), and the position of the first event of each not applied.
        self.halted: dict[str, str] = {}
        self._held_at: dict[str, int] = {}

    async def run_once(self) -> int:
        """Apply every fund event after the checkpoint; returns events applied."""
        async with self._lock:
            cursor = max(self._cursor, await self._rows.checkpoint())
            applied = 0
            while True:
                page = await self._source.read_funds(
                    from_position=cursor + 1, max_count=self._page_size
                )
                if not page:
                    break
                applied += await self._apply_page(page)
                cursor = self._cursor = page[-1].position
                await self._rows.advance_checkpoint(self._safe(cursor))
                if len(page) < self._page_size:
                    break
            if applied:
                log.info("catch-up applied %d events from the log", applied)
            return applied

    async def refold_stale(self) -> int:
        """Refold, in place, every fund whose row another (older or newer) fold version wrote
        (the start-up fold upgrade's second step, fold_upgrade.py); returns funds refolded."""
        done, after = 0, None
        while True:
            stale = await self._rows.stale(FOLD_VERSION, after, STALE_BATCH)
            if not stale:
                return done
            results = await asyncio.gather(
                *(self._applier.refold(fund_id) for fund_id in stale), return_exceptions=True
            )
            self._settle(dict.fromkeys(stale, 0), results)
            done += sum(1 for r in results if isinstance(r, Outcome))
            after = stale[-1]

    async def run_forever(self) -> None:
        while True:
            try:
                await self.run_once()
                if self._after_pass is not None:
                    await self._after_pass()
            except asyncio.CancelledError:
                raise
            except Unavailable as err:  # the event store is starting or restarting
                log.warning("catch-up: %s; retrying next round", err.message)
            except Exception:
                log.exception("catch-up pass failed; retrying next round")
            await asyncio.sleep(self._interval)

    async def _apply_page(self, page: Sequence[LoggedEvent]) -> int:
        """Apply a page read from the log (position order, many funds); returns events applied.

        Funds proceed in parallel, each fund's events in one transaction in version
        order. Raises if any fund failed for another reason than its log — after all
        the others finished — so the checkpoint never moves past an event not applied.
        """
        groups = {f: g for f, g in by_fund(page).items() if f not in self.halted}
        # One cheap unlocked read skips funds the bus already brought up to date
        # (the usual case for a periodic catch-up). Safe without the lock: stored
        # versions only grow, so "already applied" cannot become false.
        stored = await self._rows.versions(groups.keys())
        todo: dict[str, list[LoggedEvent]] = {}
        for fund_id, group in groups.items():
            version, fold_version = stored.get(fund_id, (0, FOLD_VERSION))
            if fold_version == FOLD_VERSION and max(e.version for e in group) <= version:
                DUPLICATES_SKIPPED.inc(len(group))
            else:
                todo[fund_id] = group
        results = await asyncio.gather(
            *(self._applier.apply(fund_id, group) for fund_id, group in todo.items()),
            return_exceptions=True,
        )
        return self._settle({f: g[0].position for f, g in todo.items()}, results)

    def _settle(self, first_positions: dict[str, int], results: Sequence[object]) -> int:
        """Sets aside the funds whose log failed; raises the first other failure."""
        applied, failure = 0, None
        for (fund_id, position), result in zip(first_positions.items(), results, strict=True):
            if isinstance(result, FundLogError):
                self._halt(fund_id, position, result)
            elif isinstance(result, BaseException):
                failure = failure or result
            elif isinstance(result, Outcome):
                applied += result.applied
        if failure is not None:
            raise failure
        return applied

    def _halt(self, fund_id: str, position: int, err: FundLogError) -> None:
        self.halted[fund_id] = str(err)
        if position:
            self._held_at[fund_id] = position
        log.error(
            "catch-up set %s aside: its log cannot be folded (%s); its events are no longer"
            " applied until an operator repairs the log and restarts the service",
            fund_id,
            err,
            extra={"stream_id": fund_id, "version": err.version},
        )

    def _safe(self, cursor: int) -> int:
        """The checkpoint to store: below the first event of every fund set aside."""
        return min([cursor, *(position - 1 for position in self._held_at.values())])
