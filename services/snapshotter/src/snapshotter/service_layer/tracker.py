"""The count trigger: a snapshot at every multiple of N versions of a fund."""

from __future__ import annotations

from collections import OrderedDict

from snapshotter.domain.model import Progress, Snapshot, Trigger
from snapshotter.domain.triggers import count_targets
from snapshotter.service_layer.ports import ProgressStore
from snapshotter.service_layer.snapshots import SnapshotMaker


class Tracker:
    def __init__(self, progress: ProgressStore, maker: SnapshotMaker, every: int) -> None:
        self._progress = progress
        self._maker = maker
        self._every = every
        # The version each fund's stored progress reached through this process: a
        # lower bound of the stored one (it only moves forward), bounded LRU.
        self._seen: OrderedDict[str, int] = OrderedDict()
        self._seen_capacity = 4096

    async def advance(self, seen: Progress) -> list[Snapshot]:
        """Record that the fund has reached `seen`; take the count snapshots passed on the way.

        Order is what makes this safe without a lock: the snapshots are written
        *before* the progress row moves past their versions. A crash in between
        leaves the row behind, so the redelivery (or the catch-up) computes the
        same targets again and finds them already written. Two callers for one
        fund (bus and catch-up) may both compute a target; the unique key keeps
        one, and the progress row only ever moves forward (see ProgressStore).
        """
        known = self._seen.get(seen.fund_id)
        if known is not None and seen.version <= known:
            return []  # stored progress >= known >= this version: nothing to do
        # Behind the store only if another replica (or the catch-up) moved it:
        # the targets it already took are found existing (ensure is idempotent).
        before = known if known is not None else await self._progress.seen_version(seen.fund_id)
        if seen.version <= before:
            self._remember(seen.fund_id, before)
            return []  # a redelivery or an event the catch-up already covered
        made = []
        for target in count_targets(before, seen.version, self._every):
            snapshot, created = await self._maker.ensure(seen.fund_id, target, Trigger.EVENT_COUNT)
            if created:
                made.append(snapshot)
        await self._progress.advance(seen)
        self._remember(seen.fund_id, seen.version)
        return made

    def _remember(self, fund_id: str, version: int) -> None:
        if self._seen.get(fund_id, 0) < version:
            self._seen[fund_id] = version
        self._seen.move_to_end(fund_id)
        while len(self._seen) > self._seen_capacity:
            self._seen.popitem(last=False)
