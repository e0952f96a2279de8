"""Property tests of the fold over random valid fund streams.

What a snapshot relies on: folding the events after k over the state after the first k events
(also after that state went through its stored JSON form) gives exactly the state after all of
them, for every k. And what a ledger relies on: the totals are exact sums of the events' amounts,
however large, and no company mentioned by an event is ever dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, TypeVar

from fundledger_kernel import canonical_json
from fundledger_kernel.fund import (
    FundEvent,
    FundState,
    decode_event,
    empty_state,
    project,
    state_from_json,
    state_to_json,
)
from hypothesis import given, settings
from hypothesis import strategies as st

T = TypeVar("T")
Draw = Callable[[st.SearchStrategy[T]], T]

COMPANIES = ("c1", "c2", "c3", "c4")
UNKNOWN_TYPES = ("FUND_RENAMED", "SomethingNewer")
START = datetime(2026, 1, 1, tzinfo=UTC)

# Amounts as the event store accepts them (int64), weighted toward the ends that break things:
# ordinary sums, corrections below zero, and values near 2**62 whose sums pass int64.
amounts = st.one_of(
    st.integers(0, 10**9),
    st.integers(-(10**6), 0),
    st.integers(2**62 - 10**6, 2**63 - 1),
)
company_ids = st.sampled_from(COMPANIES)
names = st.text(max_size=6).filter(lambda text: "\x00" not in text)
metric_keys = st.fixed_dictionaries(
    {
        "company_id": company_ids,
        "metric": st.sampled_from(("revenue", "ebitda")),
        "period": st.sampled_from(("2027-Q1", "2027-Q2")),
    }
)
file_ids = st.sampled_from(("f1", "f2", "f3"))

PAYLOADS: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "COMPANY_ADDED": st.fixed_dictionaries(
        {"company_id": company_ids, "name": names},
        optional={"allocation_cap_cents": amounts, "sector": names},
    ),
    "INVESTMENT_MADE": st.fixed_dictionaries(
        {"company_id": company_ids, "amount_cents": amounts},
        optional={
            "ownership_bps": st.integers(0, 10_000),
            "from_reserves": st.booleans(),
            "round": names,
        },
    ),
    "VALUATION_UPDATED": st.fixed_dictionaries(
        {"company_id": company_ids, "valuation_cents": amounts}
    ),
    "CAPITAL_CALLED": st.fixed_dictionaries(
        {"amount_cents": amounts}, optional={"call_number": st.integers(0, 99)}
    ),
    "DISTRIBUTION_MADE": st.fixed_dictionaries(
        {"amount_cents": amounts}, optional={"company_id": company_ids | st.just("")}
    ),
    "RESERVE_ALLOCATED": st.fixed_dictionaries(
        {"company_id": company_ids, "planned_reserves_cents": amounts}
    ),
    "FORECAST_CREATED": st.builds(lambda key, n: {**key, "amount_cents": n}, metric_keys, amounts),
    "ACTUAL_RECORDED": st.builds(lambda key, n: {**key, "amount_cents": n}, metric_keys, amounts),
    "REALLOCATION_COMMITTED": st.fixed_dictionaries(
        {
            "baseline_version": st.integers(0, 100),
            "new_version": st.integers(0, 100),
            "changes": st.lists(
                st.builds(
                    lambda c, a, b: {
                        "company_id": c,
                        "from_cents": a,
                        "to_cents": b,
                        "delta_cents": b - a,
                    },
                    company_ids,
                    st.integers(0, 10**9),
                    st.integers(0, 10**9),
                ),
                max_size=3,
            ),
        },
        optional={"reason": names},
    ),
    "FILE_ATTACHED": st.fixed_dictionaries(
        {"file_id": file_ids}, optional={"company_id": company_ids}
    ),
    "FILE_DETACHED": st.fixed_dictionaries({"file_id": file_ids}),
    **{unknown: st.just({"anything": 1}) for unknown in UNKNOWN_TYPES},
}
FUND_CREATED = st.fixed_dictionaries(
    {"name": names, "committed_capital_cents": amounts, "currency": st.just("USD")},
    optional={"vintage_year": st.integers(1990, 2100)},
)


@st.composite
def fund_streams(draw: Draw[Any]) -> list[FundEvent]:
    """A FUND_CREATED, then a random mix: versions 1, 2, ...; times never decreasing."""
    raw: list[tuple[str, dict[str, Any]]] = [("FUND_CREATED", draw(FUND_CREATED))]
    for event_type in draw(st.lists(st.sampled_from(sorted(PAYLOADS)), max_size=30)):
        raw.append((event_type, draw(PAYLOADS[event_type])))
    events, moment = [], START
    for version, (event_type, data) in enumerate(raw, start=1):
        moment += timedelta(microseconds=draw(st.integers(0, 10**11)))
        # The same instant seen from any zone: the fold must not care which.
        zone = timezone(timedelta(minutes=draw(st.integers(-12 * 60, 14 * 60))))
        events.append(decode_event(event_type, data, version, moment.astimezone(zone)))
    return events


relaxed = settings(deadline=None, max_examples=150)


def from_scratch(events: list[FundEvent]) -> FundState:
    return project(empty_state("fund-p"), events)


@relaxed
@given(fund_streams())
def test_snapshot_plus_rest_equals_full_projection(events: list[FundEvent]) -> None:
    full = from_scratch(events)
    for k in range(len(events) + 1):
        snapshot = from_scratch(events[:k])
        assert project(snapshot, events[k:]) == full, k


@relaxed
@given(fund_streams())
def test_snapshot_through_json_equals_full_projection(events: list[FundEvent]) -> None:
    full = from_scratch(events)
    for k in range(len(events) + 1):
        restored = state_from_json(state_to_json(from_scratch(events[:k])))
        replayed = project(restored, events[k:])
        assert replayed == full, k
        assert canonical_json(state_to_json(replayed)) == canonical_json(state_to_json(full))


def company_of(event: FundEvent) -> str:
    """The company an event names, "" when none."""
    company = getattr(event.data, "company_id", "")
    assert isinstance(company, str)
    return company


def amount(event: FundEvent, field: str) -> int:
    value = getattr(event.data, field)
    assert isinstance(value, int)
    return value


@relaxed
@given(fund_streams())
def test_money_sums_are_exact(events: list[FundEvent]) -> None:
    state = from_scratch(events)

    def total(event_type: str, field: str = "amount_cents") -> int:
        return sum(amount(e, field) for e in events if e.event_type == event_type)

    assert state.invested == total("INVESTMENT_MADE")
    assert state.called == total("CAPITAL_CALLED")
    assert state.distributed == total("DISTRIBUTION_MADE")
    assert state.committed == amount(events[0], "committed_capital_cents")
    assert state.uncalled == state.committed - state.called

    last_valuation: dict[str, int] = {}
    invested: dict[str, int] = {}
    for event in events:
        company = company_of(event)
        if event.event_type == "VALUATION_UPDATED":
            last_valuation[company] = amount(event, "valuation_cents")
        elif event.event_type == "INVESTMENT_MADE":
            invested[company] = invested.get(company, 0) + amount(event, "amount_cents")
    assert state.total_value == sum(last_valuation.values())
    for company, value in invested.items():
        assert state.companies[company].invested == value
    assert sum(c.invested for c in state.companies.values()) == state.invested


@relaxed
@given(fund_streams())
def test_nothing_is_dropped_and_every_event_counts(events: list[FundEvent]) -> None:
    state = from_scratch(events)
    # Every event about a company (documents and the audit record aside) leaves it in the state.
    mentioned = {
        company_of(event)
        for event in events
        if event.event_type not in ("FILE_ATTACHED", "REALLOCATION_COMMITTED") and company_of(event)
    }
    assert set(state.companies) == mentioned
    assert state.skipped_events == sum(e.event_type in UNKNOWN_TYPES for e in events)
    assert state.version == events[-1].version == len(events)
    assert state.last_event_at == events[-1].recorded_at
