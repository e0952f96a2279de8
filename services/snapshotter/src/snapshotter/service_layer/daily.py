"""The daily trigger: at the configured UTC time, a snapshot of every fund changed since its last.

A daily snapshot stands at the fund's last event recorded at or before the
scheduled instant, not at whatever version is current when the round happens
to run: every replica running the round (and a re-run after a crash) then
computes the same version, and the unique key keeps one snapshot.
"""

from __future__ import annotations

import logging
from datetime import datetime, time

from fundledger_kernel.fund import FOLD_VERSION
from fundledger_kernel.fund.fold_input import FundLogError

from snapshotter.domain.model import Snapshot, Trigger
from snapshotter.domain.triggers import next_daily
from snapshotter.service_layer.ports import Clock, EventLog, ProgressStore, SnapshotStore
from snapshotter.service_layer.snapshots import SnapshotMaker

log = logging.getLogger(__name__)


class DailySnapshots:
    def __init__(
        self,
        progress: ProgressStore,
        snapshots: SnapshotStore,
        events: EventLog,
        maker: SnapshotMaker,
        at: time,
        clock: Clock,
    ) -> None:
        self._progress = progress
        self._snapshots = snapshots
        self._events = events
        self._maker = maker
        self._at = at
        self._clock = clock

    async def run_round(self, now: datetime) -> list[Snapshot]:
        """One daily round for the instant `now`; returns the snapshots it wrote."""
        made = []
        for fund_id in await self._progress.changed_since_snapshot(FOLD_VERSION):
            try:
                snapshot = await self._snapshot_fund(fund_id, now)
            except FundLogError as err:
                # Not retried in a loop: the fund stays "changed", so the next round tries again.
                log.error(
                    "daily snapshot of %s skipped: its log cannot be folded (%s)",
                    fund_id,
                    err,
                    extra={"fund_id": fund_id, "version": err.version},
                )
                continue
            except Exception:
                # One fund's failure must not cost every other fund its snapshot.
                log.exception("daily snapshot of %s failed", fund_id)
                continue
            if snapshot is not None:
                made.append(snapshot)
        log.info("daily round for %s: %d snapshots", now.isoformat(), len(made))
        return made

    async def _snapshot_fund(self, fund_id: str, now: datetime) -> Snapshot | None:
        last = await self._events.read_stream(
            fund_id, backwards=True, max_count=1, max_recorded_at=now
        )
        if not last:
            return None  # the fund's first event came after `now`
        version = last[0].version
        if await self._snapshots.covers(fund_id, version, FOLD_VERSION):
            return None  # unchanged since a snapshot at or after that version
        snapshot, created = await self._maker.ensure(fund_id, version, Trigger.DAILY)
        return snapshot if created else None

    async def run(self) -> None:
        """Sleep until each scheduled instant, then run its round; until cancelled."""
        due = next_daily(self._clock.now(), self._at)
        while True:
            delay = (due - self._clock.now()).total_seconds()
            if delay > 0:
                await self._clock.sleep(delay)
                continue  # re-read the clock: a sleep may end early
            try:
                await self.run_round(due)
            except Exception:
                log.exception("daily round for %s failed", due.isoformat())
            # From the later of the two, so a process that slept through several
            # days (a suspended VM) runs one round, not one per missed day.
            due = next_daily(max(due, self._clock.now()), self._at)
