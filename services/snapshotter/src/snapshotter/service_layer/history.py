"""A fund's state at a version or a time: the nearest valid snapshot plus the log after it.

Both the snapshot triggers and time travel go through here, so a snapshot is
always computed the way a time-travel answer is: with the shared fold, from an
earlier snapshot of the same fold version (or from nothing) plus events read
from the event store — never copied from the projector.
"""

from __future__ import annotations

import logging
from datetime import datetime

from fundledger_kernel.fund import FOLD_VERSION, empty_state, state_from_json
from fundledger_kernel.fund.fold_input import LogGapError

from snapshotter.domain.model import Snapshot
from snapshotter.domain.replay import Replay
from snapshotter.service_layer.ports import EventLog, SnapshotStore, StateJson

log = logging.getLogger(__name__)

Found = tuple[Snapshot, StateJson] | None


class History:
    def __init__(self, snapshots: SnapshotStore, events: EventLog) -> None:
        self._snapshots = snapshots
        self._events = events

    async def latest_snapshot(self, fund_id: str, version: int) -> Found:
        """This fold's latest snapshot at or before `version`, with its state."""
        return await self._snapshots.latest_by_version(fund_id, version, FOLD_VERSION)

    async def at_version(self, fund_id: str, version: int) -> Replay:
        """The state exactly at `version`.

        FundLogError when the log cannot be folded; LogGapError too when it ends before
        `version` (callers that did not check first that the version exists — time travel,
        CreateSnapshot: a round trip saved on every call — ask the event store then whether
        the fund is unknown or shorter, see time_travel.why_short).
        """
        return await self.at_version_from(
            fund_id, version, await self.latest_snapshot(fund_id, version)
        )

    async def at_version_from(self, fund_id: str, version: int, found: Found) -> Replay:
        """at_version, starting from `found` (what latest_snapshot returned)."""
        start = self._start(fund_id, found)
        missing = version - start.state.version
        if missing <= 0:
            return start
        events = await self._events.read_stream(
            fund_id, from_version=start.state.version + 1, max_count=missing
        )
        replay = start.extended(events)
        reached = replay.state.version
        if reached != version:
            raise LogGapError(
                fund_id, reached + 1, f"asked for version {version}, the log ends at {reached}"
            )
        return replay

    async def at_time(self, fund_id: str, at: datetime) -> Replay:
        """The state after every event recorded at or before `at` (version 0 when none).

        The snapshot is chosen by its event_time — the time of its last event —
        not by when it was written: a snapshot written at t5 that covers an
        event of t3 must not answer for t2 (FM-10, docs/failure-modes.md).
        """
        found = await self._snapshots.latest_by_time(fund_id, at, FOLD_VERSION)
        start = self._start(fund_id, found)
        # max_recorded_at is inclusive: an event recorded exactly at `at` counts.
        events = await self._events.read_stream(
            fund_id, from_version=start.state.version + 1, max_recorded_at=at
        )
        return start.extended(events)

    def _start(self, fund_id: str, found: Found) -> Replay:
        if found is not None:
            snapshot, data = found
            try:
                state = state_from_json(data)
            except ValueError as err:
                # A corrupt or foreign row must not be served as the fund's state;
                # folding from the first event is slower but always right.
                log.warning(
                    "snapshot %s unreadable, folding from scratch: %s", snapshot.snapshot_id, err
                )
            else:
                if state.version == snapshot.version and state.fund_id == fund_id:
                    return Replay(state, snapshot, 0, snapshot.position, snapshot.tenant)
                log.warning(
                    "snapshot %s does not match its row; folding from scratch", snapshot.snapshot_id
                )
        return Replay(empty_state(fund_id), None, 0, 0)
