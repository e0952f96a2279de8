"""Upkeep after a fold change: re-take snapshots of older fold versions with the current fold.

Time travel never reads another fold's snapshot (FM-11): its state may mean something else
(FOLD_VERSION 2 orders a fund's events by effective time, and records effective_through, which
older rows lack). Until they are re-taken, questions about those funds fold from an older
snapshot of the current fold, or from the first event: right, only slower. So in the
background the snapshotter re-takes each such snapshot at the same version with the current
fold (SnapshotMaker.ensure: idempotent by its unique key, so replicas and re-runs racing for one
version keep one row), oldest version first within a fund, so each is folded from the one
re-taken just below it. The old rows stay, listed by ListSnapshots with their fold version.
"""

from __future__ import annotations

import asyncio
import logging

from fundledger_kernel.fund import FOLD_VERSION
from fundledger_kernel.fund.fold_input import FundLogError

from snapshotter.service_layer.ports import SnapshotStore
from snapshotter.service_layer.snapshots import SnapshotMaker

log = logging.getLogger(__name__)

BATCH = 100


class Refold:
    def __init__(self, snapshots: SnapshotStore, maker: SnapshotMaker, batch: int = BATCH) -> None:
        self._snapshots = snapshots
        self._maker = maker
        self._batch = batch

    async def run_once(self) -> int:
        """Re-takes every snapshot of another fold version that has no counterpart of this
        fold yet; returns how many it wrote. A fund whose log cannot be folded is logged and
        passed over (its old snapshots stay stale; the others go on)."""
        made = 0
        failed: set[tuple[str, int]] = set()
        while True:
            stale = [
                s
                for s in await self._snapshots.stale(FOLD_VERSION, self._batch + len(failed))
                if (s.fund_id, s.version) not in failed
            ]
            if not stale:
                return made
            for snapshot in stale:
                try:
                    _, created = await self._maker.ensure(
                        snapshot.fund_id, snapshot.version, snapshot.trigger
                    )
                except FundLogError as err:
                    log.error(
                        "re-taking snapshot %s v%d passed over: its log cannot be folded (%s)",
                        snapshot.fund_id,
                        snapshot.version,
                        err,
                        extra={"fund_id": snapshot.fund_id, "version": snapshot.version},
                    )
                    failed.add((snapshot.fund_id, snapshot.version))
                    continue
                made += created

    async def run(self, interval_seconds: float) -> None:
        """run_once at start-up, then every `interval_seconds` (a snapshot of an older fold only
        appears after a deploy, but a replica of an older version may still write one), until
        cancelled."""
        while True:
            try:
                made = await self.run_once()
                if made:
                    log.info("re-took %d snapshots with fold version %d", made, FOLD_VERSION)
            except Exception as err:
                # The event store may be restarting; the next round resumes.
                log.warning("refold failed, retrying in %.0fs: %r", interval_seconds, err)
            await asyncio.sleep(interval_seconds)
