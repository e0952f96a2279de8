"""In-memory stand-ins for the event log and the snapshot store, for the History's planning
(no servers). They answer the ports' questions from plain lists, with the filters the SQL and
the event store apply; the real adapters are covered by the integration tests."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from fundledger_kernel.fund import empty_state, state_to_json
from fundledger_kernel.fund.fold_input import LoggedEvent, fold_logged
from snapshotter.domain.axes import Axes
from snapshotter.domain.model import Snapshot, Trigger
from snapshotter.service_layer.ports import StateJson

FUND = "fund-2a7c"


@dataclass
class FakeLog:
    events: list[LoggedEvent]
    reads: int = 0

    async def read_stream(
        self,
        fund_id: str,
        *,
        from_version: int | None = None,
        max_count: int = 0,
        max_recorded_at: datetime | None = None,
        backwards: bool = False,
    ) -> list[LoggedEvent]:
        assert fund_id == FUND
        assert not backwards
        self.reads += 1
        start = from_version or 1
        found = [
            e
            for e in self.events
            if e.version >= start and (max_recorded_at is None or e.recorded_at <= max_recorded_at)
        ]
        return found[:max_count] if max_count else found


@dataclass
class FakeSnapshots:
    rows: list[tuple[Snapshot, StateJson]] = field(default_factory=list)

    async def newest_within(
        self,
        fund_id: str,
        fold_version: int,
        axes: Axes,
        *,
        below_version: int | None = None,
        effective_through_at_most: datetime | None = None,
    ) -> tuple[Snapshot, StateJson] | None:
        fits = [
            (s, state)
            for s, state in self.rows
            if s.fund_id == fund_id
            and s.fold_version == fold_version
            and axes.holds(s)
            and (below_version is None or s.version < below_version)
            and (
                effective_through_at_most is None
                or (
                    s.effective_through is not None
                    and s.effective_through <= effective_through_at_most
                )
            )
        ]
        return max(fits, key=lambda row: row[0].version, default=None)


def snapshots_at(
    events: Sequence[LoggedEvent], versions: Sequence[int], fold: int
) -> FakeSnapshots:
    """Complete-prefix snapshots at `versions`, as SnapshotMaker stores them."""
    rows = []
    for version in sorted(set(versions)):
        state = fold_logged(empty_state(FUND), events[:version])
        assert state.last_event_at is not None
        snapshot = Snapshot(
            snapshot_id=uuid.uuid4(),
            fund_id=FUND,
            version=version,
            position=events[version - 1].position,
            event_time=state.last_event_at,
            fold_version=fold,
            trigger=Trigger.EVENT_COUNT,
            events_since_previous=0,
            effective_through=state.last_effective_at,
        )
        # Through JSON, as the store keeps it.
        rows.append((snapshot, json.loads(json.dumps(state_to_json(state)))))
    return FakeSnapshots(rows)
