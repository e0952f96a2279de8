"""A fund's state at a version or a time: the nearest valid snapshot plus the log after it.

Both the snapshot triggers and time travel go through here, so a snapshot is
always computed the way a time-travel answer is: with the shared fold, from an
earlier snapshot of the same fold version (or from nothing) plus events read
from the event store — never copied from the projector.
"""

from __future__ import annotations

import logging
from datetime import datetime

from fundledger.eventstore.v1.events_pb2 import RecordedEvent
from fundledger_kernel.fund import FOLD_VERSION, empty_state, state_from_json
from fundledger_platform.errors import DataLoss

from snapshotter.domain.model import Snapshot
from snapshotter.domain.replay import LogGapError, Replay, fold_onto
from snapshotter.service_layer.ports import EventLog, SnapshotStore, StateJson

log = logging.getLogger(__name__)


class History:
    def __init__(self, snapshots: SnapshotStore, events: EventLog) -> None:
        self._snapshots = snapshots
        self._events = events

    async def at_version(self, fund_id: str, version: int) -> Replay:
        """The state exactly at `version` (the caller checked it exists)."""
        found = await self._snapshots.latest_by_version(fund_id, version, FOLD_VERSION)
        start = self._start(fund_id, found)
        missing = version - start.state.version
        if missing <= 0:
            return start
        events = await self._events.read_stream(
            fund_id, from_version=start.state.version + 1, max_count=missing
        )
        replay = self._fold(start, events)
        if replay.state.version != version:
            detail = f"asked for version {version}, the log ends at {replay.state.version}"
            raise _gap(fund_id, detail)
        return replay

    async def at_time(self, fund_id: str, at: datetime) -> Replay:
        """The state after every event recorded at or before `at` (version 0 when none).

        The snapshot is chosen by its event_time — the time of its last event —
        not by when it was written: a snapshot written at t5 that covers an
        event of t3 must not answer for t2 (pitfall 10).
        """
        found = await self._snapshots.latest_by_time(fund_id, at, FOLD_VERSION)
        start = self._start(fund_id, found)
        # max_recorded_at is inclusive: an event recorded exactly at `at` counts.
        events = await self._events.read_stream(
            fund_id, from_version=start.state.version + 1, max_recorded_at=at
        )
        return self._fold(start, events)

    def _start(self, fund_id: str, found: tuple[Snapshot, StateJson] | None) -> Replay:
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
                    return Replay(state, snapshot, 0, snapshot.position)
                log.warning(
                    "snapshot %s does not match its row; folding from scratch", snapshot.snapshot_id
                )
        return Replay(empty_state(fund_id), None, 0, 0)

    @staticmethod
    def _fold(start: Replay, events: list[RecordedEvent]) -> Replay:
        try:
            return fold_onto(start.state, start.base, start.position, events)
        except LogGapError as err:
            raise _gap(start.state.fund_id, str(err)) from None


def _gap(fund_id: str, detail: str) -> DataLoss:
    return DataLoss(f"{fund_id}: {detail}", reason="LOG_GAP", metadata={"fund_id": fund_id})
