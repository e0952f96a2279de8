"""The fold, event type by event type: what each one changes, and what it leaves alone."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from fundledger_kernel import FUND_EVENT_TYPES
from fundledger_kernel.fund import (
    HANDLERS,
    CompanyState,
    FundEvent,
    FundState,
    MetricKey,
    decode_event,
    empty_state,
    evolve,
    project,
)

T0 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
FUND = "fund-7d0c6f1e-0000-4000-8000-000000000001"


def run(*events: tuple[str, dict[str, Any]]) -> FundState:
    """Fold events given as (type, data), with versions 1, 2, ... a minute apart."""
    decoded = [
        decode_event(event_type, data, version, T0 + timedelta(minutes=version))
        for version, (event_type, data) in enumerate(events, start=1)
    ]
    return project(empty_state(FUND), decoded)


CREATED = (
    "FUND_CREATED",
    {
        "name": "Fund I",
        "committed_capital_cents": 100_000_000_00,
        "currency": "EUR",
        "vintage_year": 2026,
    },
)


def test_empty_state() -> None:
    state = empty_state(FUND)
    assert state.fund_id == FUND
    assert (state.version, state.last_event_at, state.skipped_events) == (0, None, 0)
    assert (state.committed, state.called, state.invested, state.distributed) == (0, 0, 0, 0)
    assert not state.companies
    assert not state.file_ids


def test_every_fund_event_type_has_a_handler() -> None:
    # A type the catalog validates but the fold skips would be data silently lost.
    assert set(HANDLERS) == set(FUND_EVENT_TYPES)


def test_fund_created() -> None:
    state = run(CREATED)
    assert (state.name, state.currency, state.vintage_year) == ("Fund I", "EUR", 2026)
    assert state.committed == 100_000_000_00
    assert state.uncalled == 100_000_000_00
    assert state.version == 1
    assert state.last_event_at == T0 + timedelta(minutes=1)


def test_company_added() -> None:
    state = run(
        CREATED,
        (
            "COMPANY_ADDED",
            {"company_id": "c1", "name": "Acme", "allocation_cap_cents": 500, "sector": "AI"},
        ),
    )
    assert state.companies["c1"] == CompanyState("c1", name="Acme", sector="AI", allocation_cap=500)


def test_investment_made() -> None:
    state = run(
        CREATED,
        ("COMPANY_ADDED", {"company_id": "c1", "name": "Acme"}),
        ("INVESTMENT_MADE", {"company_id": "c1", "amount_cents": 1_000, "ownership_bps": 1500}),
        ("INVESTMENT_MADE", {"company_id": "c1", "amount_cents": 250}),  # no ownership given
        ("INVESTMENT_MADE", {"company_id": "c1", "amount_cents": 300, "from_reserves": True}),
    )
    company = state.companies["c1"]
    assert (state.invested, company.invested) == (1_550, 1_550)
    assert company.ownership_bps == 1500  # 0 means "not given" and keeps the earlier value
    assert company.deployed_reserves == 300


def test_investment_sets_new_ownership() -> None:
    state = run(
        ("INVESTMENT_MADE", {"company_id": "c1", "amount_cents": 1, "ownership_bps": 1500}),
        ("INVESTMENT_MADE", {"company_id": "c1", "amount_cents": 1, "ownership_bps": 1800}),
    )
    assert state.companies["c1"].ownership_bps == 1800


def test_investment_before_company_added_is_kept() -> None:
    # FM-17: the money must not vanish, and naming the company later must keep it.
    state = run(
        CREATED,
        ("INVESTMENT_MADE", {"company_id": "c9", "amount_cents": 7_500, "ownership_bps": 900}),
        ("VALUATION_UPDATED", {"company_id": "c9", "valuation_cents": 9_000}),
    )
    # Schema-version-1 events: EQUITY (1), method not recorded (0); the mark effective at v3.
    assert state.companies["c9"] == CompanyState(
        "c9",
        invested=7_500,
        valuation=9_000,
        ownership_bps=900,
        instrument=1,
        valuation_effective_at=T0 + timedelta(minutes=3),
    )
    assert state.invested == 7_500

    named = evolve(
        state,
        decode_event(
            "COMPANY_ADDED",
            {"company_id": "c9", "name": "Late Co", "allocation_cap_cents": 50_000},
            state.version + 1,
            T0 + timedelta(hours=1),
        ),
    )
    assert named.companies["c9"] == CompanyState(
        "c9",
        name="Late Co",
        invested=7_500,
        valuation=9_000,
        ownership_bps=900,
        allocation_cap=50_000,
        instrument=1,
        valuation_effective_at=T0 + timedelta(minutes=3),
    )
    assert named.invested == 7_500
    assert named.total_value == 9_000


def test_valuation_updated_latest_wins() -> None:
    state = run(
        ("VALUATION_UPDATED", {"company_id": "c1", "valuation_cents": 100}),
        ("VALUATION_UPDATED", {"company_id": "c1", "valuation_cents": 40}),
        ("VALUATION_UPDATED", {"company_id": "c2", "valuation_cents": 7}),
    )
    assert state.companies["c1"].valuation == 40
    assert state.total_value == 47


def test_capital_called() -> None:
    state = run(
        CREATED,
        ("CAPITAL_CALLED", {"amount_cents": 20_000_000_00, "call_number": 1}),
        ("CAPITAL_CALLED", {"amount_cents": 5_000_000_00}),
    )
    assert state.called == 25_000_000_00
    assert state.uncalled == 75_000_000_00


def test_distribution_made() -> None:
    state = run(
        ("DISTRIBUTION_MADE", {"amount_cents": 100}),  # fund level: no company
        ("DISTRIBUTION_MADE", {"amount_cents": 30, "company_id": "c1"}),  # creates c1
    )
    assert state.distributed == 130
    assert list(state.companies) == ["c1"]
    assert state.companies["c1"].distributed == 30


def test_reserve_allocated_is_absolute() -> None:
    state = run(
        ("RESERVE_ALLOCATED", {"company_id": "c1", "planned_reserves_cents": 500}),
        ("RESERVE_ALLOCATED", {"company_id": "c1", "planned_reserves_cents": 200}),
        ("RESERVE_ALLOCATED", {"company_id": "c2", "planned_reserves_cents": 50}),
    )
    assert state.companies["c1"].planned_reserves == 200
    assert state.total_planned_reserves == 250


def test_forecasts_and_actuals_latest_wins() -> None:
    key = MetricKey("c1", "revenue", "2027-Q1")
    state = run(
        ("FORECAST_CREATED", {**dict(key._asdict()), "amount_cents": 1_000}),
        ("FORECAST_CREATED", {**dict(key._asdict()), "amount_cents": 1_200}),
        ("ACTUAL_RECORDED", {**dict(key._asdict()), "amount_cents": 900}),
        ("ACTUAL_RECORDED", {**dict(key._asdict()), "amount_cents": 1_500}),
    )
    assert dict(state.forecasts) == {key: 1_200}
    assert dict(state.actuals) == {key: 1_500}
    assert "c1" in state.companies  # a metric about an unseen company creates it


def test_reallocation_committed_changes_no_money() -> None:
    before = run(
        CREATED,
        ("RESERVE_ALLOCATED", {"company_id": "c1", "planned_reserves_cents": 500}),
    )
    audit = decode_event(
        "REALLOCATION_COMMITTED",
        {
            "baseline_version": 1,
            "new_version": 3,
            "changes": [{"company_id": "c1", "from_cents": 0, "to_cents": 500, "delta_cents": 500}],
            "reason": "rebalance",
        },
        3,
        T0 + timedelta(days=1),
    )
    after = evolve(before, audit)
    assert after.companies == before.companies
    assert after.total_planned_reserves == 500  # not 1000: the delta is not applied twice
    assert (after.version, after.last_event_at) == (3, T0 + timedelta(days=1))
    assert after.skipped_events == 0


def test_files_attached_and_detached() -> None:
    state = run(
        ("FILE_ATTACHED", {"file_id": "f1", "file_name": "a.pdf"}),
        ("FILE_ATTACHED", {"file_id": "f2", "company_id": "c1"}),
        ("FILE_ATTACHED", {"file_id": "f1"}),  # attached again: still one f1
        ("FILE_DETACHED", {"file_id": "f2"}),
        ("FILE_DETACHED", {"file_id": "f-unknown"}),  # detaching an absent file is harmless
    )
    assert state.file_ids == frozenset({"f1"})
    assert not state.companies  # a document does not conjure up a company


def test_unknown_event_type_is_skipped_and_counted() -> None:
    state = run(CREATED, ("CAPITAL_CALLED", {"amount_cents": 10}))
    later = T0 + timedelta(days=2)
    skipped = evolve(state, decode_event("FUND_RENAMED_V9", b"not even json", 3, later))
    assert skipped.skipped_events == 1
    assert (skipped.version, skipped.last_event_at) == (3, later)
    assert (skipped.name, skipped.called, skipped.companies) == (
        state.name,
        state.called,
        state.companies,
    )


def test_last_event_at_is_normalised_to_utc() -> None:
    here = timezone(timedelta(hours=-5))
    event = decode_event(
        "CAPITAL_CALLED", {"amount_cents": 1}, 1, datetime(2026, 1, 1, 7, tzinfo=here)
    )
    state = evolve(empty_state(FUND), event)
    assert state.last_event_at == datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert state.last_event_at is not None
    assert state.last_event_at.utcoffset() == timedelta(0)


def test_evolve_never_mutates_its_input() -> None:
    state = run(
        CREATED,
        ("INVESTMENT_MADE", {"company_id": "c1", "amount_cents": 10}),
        ("FORECAST_CREATED", {"company_id": "c1", "metric": "m", "period": "p", "amount_cents": 1}),
        ("FILE_ATTACHED", {"file_id": "f1"}),
    )
    frozen_copy = copy.deepcopy(state)
    changes: list[tuple[str, dict[str, Any]]] = [
        ("INVESTMENT_MADE", {"company_id": "c1", "amount_cents": 5, "from_reserves": True}),
        ("COMPANY_ADDED", {"company_id": "c2", "name": "New"}),
        ("ACTUAL_RECORDED", {"company_id": "c1", "metric": "m", "period": "p", "amount_cents": 2}),
        ("FILE_DETACHED", {"file_id": "f1"}),
        ("UNKNOWN", {}),
        ("DISTRIBUTION_MADE", {"company_id": "c1", "amount_cents": 3}),
        ("DISTRIBUTION_MADE", {"amount_cents": 3}),
        # Its handler returns the state it was given: evolve must still not set the version on it.
        (
            "REALLOCATION_COMMITTED",
            {"baseline_version": 1, "new_version": 2, "changes": [], "reason": "r"},
        ),
    ]
    for event_type, data in changes:
        after = evolve(state, decode_event(event_type, data, 99, T0 + timedelta(days=9)))
        assert after != state
        assert state == frozen_copy


def test_state_cannot_be_changed_in_place() -> None:
    state = run(("INVESTMENT_MADE", {"company_id": "c1", "amount_cents": 10}))
    with pytest.raises(AttributeError):
        state.invested = 0  # type: ignore[misc]
    with pytest.raises(TypeError):
        state.companies["c2"] = CompanyState("c2")  # type: ignore[index]


def test_fund_event_checks_its_payload() -> None:
    with pytest.raises(TypeError, match="CapitalCalled"):
        FundEvent("CAPITAL_CALLED", None, 1, T0)
    with pytest.raises(TypeError, match="data must be None"):
        FundEvent("NOT_A_FUND_EVENT", decode_event(*CREATED, 1, T0).data, 1, T0)
    with pytest.raises(ValueError, match="timezone-aware"):
        decode_event("CAPITAL_CALLED", {"amount_cents": 1}, 1, datetime(2026, 1, 1))
