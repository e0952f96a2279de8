"""Property: every two-clock answer the History plans equals a fold from scratch of the events
selected by hand — whatever the history (backdated events, equal times), the snapshots taken
and the question (E, K, at_version). No servers: the ports are in-memory (two_axis_fakes.py)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fundledger_kernel.fund import FOLD_VERSION, FundState, empty_state, project
from fundledger_kernel.fund.events import decode_stored_event
from fundledger_kernel.fund.fold_input import LoggedEvent
from hypothesis import given, settings
from hypothesis import strategies as st
from snapshotter.domain.axes import Axes
from snapshotter.service_layer.history import History
from two_axis_fakes import FUND, FakeLog, FakeSnapshots, snapshots_at

T0 = datetime(2025, 9, 1, tzinfo=UTC)
relaxed = settings(deadline=None, max_examples=300)


def day(offset: int) -> datetime:
    return T0 + timedelta(days=offset)


@st.composite
def histories(draw: st.DrawFn) -> list[LoggedEvent]:
    """A fund's log: recorded times non-decreasing with the version (several may share one),
    effective times anywhere (backdated, equal, some after their recording), payloads whose
    result depends on the order (a valuation replaces the last one; amounts add up)."""
    count = draw(st.integers(1, 24))
    recorded = 0
    events = []
    for version in range(1, count + 1):
        recorded += draw(st.integers(0, 3))
        effective = recorded + draw(st.integers(-12, 2))
        kind = draw(st.sampled_from(["valuation", "valuation", "call", "invest"]))
        company = draw(st.sampled_from(["c1", "c2"]))
        amount = draw(st.integers(0, 10_000))
        if kind == "valuation":
            event_type, data = (
                "VALUATION_UPDATED",
                {"company_id": company, "valuation_cents": amount},
            )
        elif kind == "call":
            event_type, data = "CAPITAL_CALLED", {"amount_cents": amount}
        else:
            event_type, data = "INVESTMENT_MADE", {"company_id": company, "amount_cents": amount}
        events.append(
            LoggedEvent(
                stream_id=FUND,
                version=version,
                position=1000 + version,
                event_id=f"e{version}",
                event_type=event_type,
                data=json.dumps(data).encode(),
                recorded_at=day(recorded),
                # Some events from before business time: effective = recorded.
                effective_at=None if effective == recorded and version % 2 else day(effective),
            )
        )
    return events


@dataclass(frozen=True)
class Case:
    events: list[LoggedEvent]
    snapshot_versions: list[int]
    axes: Axes


@st.composite
def cases(draw: st.DrawFn) -> Case:
    events = draw(histories())
    n = len(events)
    snapshot_versions = draw(st.lists(st.integers(1, n), max_size=6))
    last_day = (events[-1].recorded_at - T0).days
    moments = st.none() | st.integers(-14, last_day + 3).map(day)
    effective_at = draw(moments)
    if draw(st.booleans()):
        axes = Axes(effective_at=effective_at, known_at=draw(moments))
    else:
        axes = Axes(effective_at=effective_at, at_version=draw(st.integers(1, n)))
    return Case(events, snapshot_versions, axes)


def by_hand(events: list[LoggedEvent], axes: Axes) -> FundState:
    """Select with plain comparisons, sort by (effective_at, version), fold from nothing."""
    chosen = [
        e
        for e in events
        if (axes.at_version is None or e.version <= axes.at_version)
        and (axes.known_at is None or e.recorded_at <= axes.known_at)
        and (axes.effective_at is None or e.business_time <= axes.effective_at)
    ]
    chosen.sort(key=lambda e: (e.business_time, e.version))
    decoded = [
        decode_stored_event(
            e.event_type, e.data, e.version, e.recorded_at, effective_at=e.effective_at
        )
        for e in chosen
    ]
    return project(empty_state(FUND), decoded)


def newest_usable(case: Case, snapshots: FakeSnapshots) -> int | None:
    usable = [
        s.version
        for s, _ in snapshots.rows
        if case.axes.holds(s)
        and s.effective_through is not None
        and not any(
            e.version > s.version and case.axes.selects(e) and e.business_time < s.effective_through
            for e in case.events
        )
    ]
    return max(usable, default=None)


def answer(case: Case, snapshots: FakeSnapshots) -> tuple[FundState, int | None, int]:
    history = History(snapshots, FakeLog(case.events))  # type: ignore[arg-type]
    replay = asyncio.run(history.select(FUND, case.axes))
    base = replay.base.version if replay.base is not None else None
    return replay.state, base, replay.events_replayed


@relaxed
@given(cases())
def test_every_answer_equals_the_fold_of_the_events_selected_by_hand(case: Case) -> None:
    expected = by_hand(case.events, case.axes)
    snapshots = snapshots_at(case.events, case.snapshot_versions, FOLD_VERSION)
    state, base, replayed = answer(case, snapshots)
    assert state == expected
    # The base is the newest usable snapshot, decided by hand: within the question, and no
    # selected event after it effective before its effective_through (so the planning, not the
    # kernel's refusal and a fold from scratch, found it).
    assert base == newest_usable(case, snapshots)
    selected = sum(1 for e in case.events if case.axes.selects(e))
    assert replayed <= selected


@relaxed
@given(cases())
def test_snapshots_of_another_fold_are_never_used(case: Case) -> None:
    snapshots = snapshots_at(case.events, case.snapshot_versions, FOLD_VERSION - 1)
    state, base, _ = answer(case, snapshots)
    assert base is None
    assert state == by_hand(case.events, case.axes)


@relaxed
@given(histories(), st.data())
def test_with_no_bound_on_business_time_the_answer_is_the_complete_prefix(
    events: list[LoggedEvent], data: st.DataObject
) -> None:
    """What SnapshotMaker stores: at a version, every event up to it, from any snapshots."""
    version = data.draw(st.integers(1, len(events)))
    taken = data.draw(st.lists(st.integers(1, len(events)), max_size=6))
    case = Case(events, taken, Axes(at_version=version))
    state, _, _ = answer(case, snapshots_at(events, taken, FOLD_VERSION))
    assert state == by_hand(events[:version], Axes())
    assert state.version == version
