"""Time travel and CreateSnapshot at a version ask the event store only for the events they
fold: the fund's current version is looked up only when the log ends before the version asked
for, to tell NOT_FOUND and OUT_OF_RANGE from a gap. In-memory fakes, no servers."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fundledger.eventstore.v1.events_pb2 import RecordedEvent
from fundledger_platform.errors import DataLoss, NotFound
from snapshotter.domain.model import Snapshot, StreamInfo
from snapshotter.service_layer.errors import OutOfRange
from snapshotter.service_layer.history import History
from snapshotter.service_layer.snapshots import SnapshotMaker, create_manual
from snapshotter.service_layer.time_travel import TimeTravel

T0 = datetime(2026, 1, 1, tzinfo=UTC)
FUND = "fund-00000000-0000-4000-8000-000000000001"


def _event(version: int, event_type: str, **data: Any) -> RecordedEvent:
    event = RecordedEvent(
        stream_id=FUND,
        version=version,
        position=100 + version,
        event_type=event_type,
        data=json.dumps(data).encode(),
        category="fund",
    )
    event.recorded_at.FromDatetime(T0 + timedelta(seconds=version))
    return event


class FakeLog:
    def __init__(self, events: list[RecordedEvent]) -> None:
        self.events = events
        self.info_calls = 0
        self.reads = 0

    async def stream_info(self, fund_id: str) -> StreamInfo | None:
        self.info_calls += 1
        if fund_id != FUND or not self.events:
            return None
        return StreamInfo(len(self.events), T0 + timedelta(seconds=1), None)

    async def read_stream(
        self,
        fund_id: str,
        *,
        from_version: int | None = None,
        max_count: int = 0,
        max_recorded_at: datetime | None = None,
        backwards: bool = False,
    ) -> list[RecordedEvent]:
        self.reads += 1
        if fund_id != FUND:
            return []
        found = [e for e in self.events if e.version >= (from_version or 1)]
        if max_recorded_at is not None:
            found = [e for e in found if e.recorded_at.ToDatetime(tzinfo=UTC) <= max_recorded_at]
        return found[:max_count] if max_count else found

    async def read_all(
        self, *, from_position: int, categories: Sequence[str], max_count: int
    ) -> list[RecordedEvent]:
        return []


class FakeSnapshots:
    def __init__(self) -> None:
        self.rows: list[tuple[Snapshot, dict[str, Any]]] = []

    async def get(self, fund_id: str, version: int, fold_version: int) -> Snapshot | None:
        raise AssertionError("not needed: latest_by_version answers it")

    async def latest_by_version(
        self, fund_id: str, version: int, fold_version: int
    ) -> tuple[Snapshot, dict[str, Any]] | None:
        rows = [r for r in self.rows if r[0].fund_id == fund_id and r[0].version <= version]
        return max(rows, key=lambda r: r[0].version) if rows else None

    async def latest_by_time(self, fund_id: str, at: datetime, fold_version: int) -> None:
        return None

    async def save(self, snapshot: Snapshot, state: Any) -> tuple[Snapshot, bool]:
        self.rows.append((snapshot, dict(state)))
        return snapshot, True


@pytest.fixture
def log() -> FakeLog:
    return FakeLog(
        [
            _event(
                1,
                "FUND_CREATED",
                name="F",
                committed_capital_cents=100,
                currency="USD",
                vintage_year=2024,
            ),
            _event(2, "CAPITAL_CALLED", amount_cents=10),
            _event(3, "CAPITAL_CALLED", amount_cents=20),
        ]
    )


async def test_time_travel_reads_only_the_events(log: FakeLog) -> None:
    travel = TimeTravel(log, History(FakeSnapshots(), log))
    by_version = await travel.at_version(FUND, 2)
    by_time = await travel.at_time(FUND, T0 + timedelta(seconds=3))
    assert (by_version.state.called, by_time.state.called) == (10, 30)
    assert log.info_calls == 0


async def test_errors_still_name_the_reason(log: FakeLog) -> None:
    travel = TimeTravel(log, History(FakeSnapshots(), log))
    with pytest.raises(OutOfRange) as beyond:
        await travel.at_version(FUND, 9)
    assert beyond.value.metadata["current_version"] == "3"
    with pytest.raises(NotFound):
        await travel.at_version("fund-00000000-0000-4000-8000-000000000002", 1)
    with pytest.raises(NotFound) as early:
        await travel.at_time(FUND, T0)
    assert early.value.reason == "FUND_NOT_FOUND_AT_TIME"
    # The event store says version 3 exists, yet the read ended before it: a gap.
    log.events[2].version = 4
    with pytest.raises(DataLoss):
        await travel.at_version(FUND, 3)


async def test_create_snapshot_at_a_version_reads_only_the_events(log: FakeLog) -> None:
    snapshots = FakeSnapshots()
    maker = SnapshotMaker(snapshots, History(snapshots, log))
    made = await create_manual(log, maker, FUND, 2)
    again = await create_manual(log, maker, FUND, 2)
    assert made == again
    assert made.version == 2
    assert (log.info_calls, log.reads, len(snapshots.rows)) == (0, 1, 1)
    with pytest.raises(OutOfRange):
        await create_manual(log, maker, FUND, 4)
    latest = await create_manual(log, maker, FUND, None)
    assert latest.version == 3
