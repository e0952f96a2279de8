"""The two clocks' pure rules (domain/axes.py), the restatement's differences and the
effective-time timeline page, without servers."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from fundledger.fund.v1 import state_pb2
from fundledger_kernel.fund.fold_input import LoggedEvent
from snapshotter.domain.axes import Axes, Fallback, fallback_for
from snapshotter.domain.model import Snapshot, Trigger
from snapshotter.domain.restatement import FigureChange, differences
from snapshotter.domain.timeline import TimelineEvent, effective_page

T0 = datetime(2025, 9, 30, tzinfo=UTC)


def day(n: int) -> datetime:
    return T0 + timedelta(days=n)


def event(version: int, recorded: int, effective: int | None) -> LoggedEvent:
    return LoggedEvent(
        stream_id="fund-1",
        version=version,
        position=version,
        event_id=f"e{version}",
        event_type="CAPITAL_CALLED",
        data=json.dumps({"amount_cents": 1}).encode(),
        recorded_at=day(recorded),
        effective_at=None if effective is None else day(effective),
    )


def snapshot(version: int, recorded: int, through: int | None) -> Snapshot:
    return Snapshot(
        snapshot_id=uuid.uuid4(),
        fund_id="fund-1",
        version=version,
        position=version,
        event_time=day(recorded),
        fold_version=2,
        trigger=Trigger.EVENT_COUNT,
        events_since_previous=0,
        effective_through=None if through is None else day(through),
    )


def test_an_event_without_effective_time_is_effective_when_recorded() -> None:
    assert event(1, 3, None).business_time == day(3)
    assert event(1, 3, -2).business_time == day(-2)


def test_selection_is_inclusive_on_both_clocks() -> None:
    e = event(5, 10, 4)
    assert Axes(effective_at=day(4), known_at=day(10)).selects(e)
    assert not Axes(effective_at=day(3)).selects(e)
    assert not Axes(known_at=day(9)).selects(e)
    assert Axes(at_version=5).selects(e)
    assert not Axes(at_version=4).selects(e)


def test_a_snapshot_holds_a_question_only_within_both_clocks() -> None:
    s = snapshot(10, 10, 8)
    assert Axes(effective_at=day(8), known_at=day(10)).holds(s)
    assert not Axes(effective_at=day(7)).holds(s)
    assert not Axes(known_at=day(9)).holds(s)
    assert not Axes(at_version=9).holds(s)
    # Written before business time: never used.
    assert not Axes().holds(snapshot(10, 10, None))


def test_a_backdated_selected_event_after_the_snapshot_asks_for_an_older_one() -> None:
    s = snapshot(10, 10, 8)
    after = [event(11, 11, 9), event(12, 12, 5), event(13, 13, 6)]
    assert fallback_for(Axes(), s, after) == Fallback(10, day(5))
    # Known before the backdated events were recorded: the snapshot is fine.
    assert fallback_for(Axes(known_at=day(11)), s, after) is None
    # Equal effective time sorts after the snapshot (higher version).
    assert fallback_for(Axes(), s, [event(11, 11, 8)]) is None
    assert fallback_for(Axes(), None, after) is None


def test_differences_name_only_the_figures_that_changed() -> None:
    before = state_pb2.FundState(
        called_cents=100,
        total_value_cents=500,
        tvpi_bps=50_000,
        version=3,
        companies=[state_pb2.CompanyState(company_id="c1", name="Acme", valuation_cents=500)],
    )
    after = state_pb2.FundState(
        called_cents=100,
        total_value_cents=200,
        tvpi_bps=20_000,
        version=4,
        companies=[
            state_pb2.CompanyState(company_id="c1", name="Acme", valuation_cents=200),
            state_pb2.CompanyState(company_id="c2", name="New", shares=7),
        ],
    )
    found = differences(before, after)
    assert found.fund == [
        FigureChange("total_value_cents", 500, 200),
        FigureChange("tvpi_bps", 50_000, 20_000),
    ]
    assert found.fund[0].delta == -300
    assert [(c.company_id, c.name, c.changes) for c in found.companies] == [
        ("c1", "Acme", [FigureChange("valuation_cents", 500, 200)]),
        ("c2", "New", [FigureChange("shares", 0, 7)]),
    ]
    assert differences(after, after).fund == []
    assert differences(after, after).companies == []


def row(version: int, effective: int) -> TimelineEvent:
    return TimelineEvent(event(version, version, effective), "fund", 1, {}, "", "", "", "")


def test_effective_pages_are_newest_first_by_effective_time_then_version() -> None:
    rows = [row(1, 1), row(2, 5), row(3, 2), row(4, 5), row(5, 9)]
    page, key = effective_page(rows, day(2), day(5), None, 2)
    assert [r.event.version for r in page] == [4, 2]
    assert key is not None
    rest, end = effective_page(rows, day(2), day(5), key, 2)
    assert [r.event.version for r in rest] == [3]
    assert end is None
