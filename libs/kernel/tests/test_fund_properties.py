"""Property tests of the fold over random valid fund streams.

What a snapshot relies on: folding the events after k over the state after the first k events
(also after that state went through its stored JSON form) gives exactly the state after all of
them, for every k. And what a ledger relies on: the totals are exact sums of the events' amounts,
however large, and no company mentioned by an event is ever dropped.
"""

from __future__ import annotations

from datetime import timedelta, timezone
from typing import Any

from fund_strategies import FUND_CREATED, PAYLOADS, START, UNKNOWN_TYPES, Draw
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
