"""The demo's pure parts: the generated fund history, its batches, the proposal, the report."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import UTC, date, datetime

import pytest
from allocation.domain.findings import FindingType
from allocation.domain.model import Proposal, ProposedAmount
from allocation.domain.plan import plan_reallocation
from allocation.domain.thresholds import Thresholds
from fundledger_cli.demo.history import (
    DEFAULT_SEED,
    DemoEvent,
    FundHistory,
    generate_history,
    quarter_batches,
)
from fundledger_cli.demo.proposal import lines_from_kernel, propose
from fundledger_cli.demo.report import quarterly_report_csv
from fundledger_kernel import (
    FundEvent,
    FundState,
    decode_event,
    empty_state,
    evolve,
    project,
    state_to_proto,
    validate_fund_payload,
)

SEEDS = (DEFAULT_SEED, 0, 1, 7, 42)
_AT = datetime(2026, 1, 1, tzinfo=UTC)


def fund_events(history: FundHistory) -> list[FundEvent]:
    return [
        decode_event(
            event.event_type,
            dict(event.data),
            version,
            _AT,
            schema_version=event.schema_version,
            effective_at=event.effective_at,
        )
        for version, event in enumerate(history.events, start=1)
    ]


def fold(history: FundHistory) -> FundState:
    return project(empty_state("fund-demo"), fund_events(history))


@pytest.fixture(scope="module")
def history() -> FundHistory:
    return generate_history()


def test_the_same_seed_gives_the_same_history() -> None:
    assert generate_history(7) == generate_history(7)
    assert generate_history(7).events != generate_history(8).events


def test_a_realistic_size(history: FundHistory) -> None:
    counts = Counter(event.event_type for event in history.events)
    assert len(history.companies) == 20
    assert counts["COMPANY_ADDED"] == 20
    assert counts["FUND_CREATED"] == 1
    assert 2_000 <= len(history.events) <= 5_000
    for kind in (
        "INVESTMENT_MADE",
        "VALUATION_UPDATED",
        "CAPITAL_CALLED",
        "DISTRIBUTION_MADE",
        "RESERVE_ALLOCATED",
        "FORECAST_CREATED",
        "ACTUAL_RECORDED",
    ):
        assert counts[kind] > 0, kind
    rounds = {e.data["round"] for e in history.events if e.event_type == "INVESTMENT_MADE"}
    assert {"Seed", "Series A", "Bridge"} <= rounds


@pytest.mark.parametrize("seed", SEEDS)
def test_every_payload_passes_kernel_validation(seed: int) -> None:
    for event in generate_history(seed).events:
        # At the schema version the runner appends it with; raises PayloadError if not valid.
        validate_fund_payload(event.event_type, event.data, event.schema_version)


def test_investments_and_valuations_are_written_in_schema_version_2(
    history: FundHistory,
) -> None:
    investments = [e for e in history.events if e.event_type == "INVESTMENT_MADE"]
    valuations = [e for e in history.events if e.event_type == "VALUATION_UPDATED"]
    assert {e.schema_version for e in investments + valuations} == {2}
    assert {e.schema_version for e in history.events if e.event_type == "CAPITAL_CALLED"} == {1}
    instruments = Counter(str(e.data["instrument"]) for e in investments)
    assert set(instruments) == {"INSTRUMENT_EQUITY", "INSTRUMENT_CONVERTIBLE_NOTE"}
    for event in investments:
        if event.data["instrument"] == "INSTRUMENT_EQUITY":
            shares, price = event.data["shares"], event.data["pricePerShareMicros"]
            assert type(shares) is int
            assert type(price) is int
            assert shares > 0
            assert price > 0
            # Shares times price is the amount, to within one share (micros vs cents).
            amount_micros = int(str(event.data["amountCents"])) * 10_000
            assert 0 <= amount_micros - shares * price < price
        else:  # a bridge note buys no shares
            assert "shares" not in event.data
    methods = Counter(str(e.data["method"]) for e in valuations)
    assert set(methods) == {
        "VALUATION_METHOD_LAST_ROUND",
        "VALUATION_METHOD_MARK_TO_MODEL",
        "VALUATION_METHOD_WRITE_DOWN",
        "VALUATION_METHOD_EXIT",
    }
    # Quarter-end marks are effective on the quarter's last day, at its start (UTC).
    marks = [e for e in valuations if e.data["method"] == "VALUATION_METHOD_MARK_TO_MODEL"]
    september = [e for e in marks if e.occurred_on == date(2025, 9, 30)]
    assert september
    assert {e.effective_at for e in september} == {datetime(2025, 9, 30, tzinfo=UTC)}


def test_the_fold_shows_instruments_shares_and_methods(history: FundHistory) -> None:
    state = fold(history)
    assert all(c.instrument for c in state.companies.values())
    assert any(c.shares > 0 for c in state.companies.values())
    assert all(c.valuation_effective_at is not None for c in state.companies.values())
    assert state.last_effective_at == datetime.combine(history.end, datetime.min.time(), UTC)


def _money_values(event: DemoEvent) -> list[object]:
    return [value for key, value in event.data.items() if key.endswith("Cents")]


def test_money_is_integer_cents(history: FundHistory) -> None:
    values = [value for event in history.events for value in _money_values(event)]
    assert values
    assert all(type(value) is int for value in values)


def test_business_dates_cover_two_years_in_order(history: FundHistory) -> None:
    dates = [event.occurred_on for event in history.events]
    assert dates == sorted(dates)
    assert dates[0] == history.terms.start
    assert dates[-1] <= history.end
    assert (history.end - history.terms.start).days >= 2 * 365 - 1
    first_year = [on for on in dates if on <= history.year_one_end]
    assert 0 < len(first_year) < len(dates)


@pytest.mark.parametrize("seed", SEEDS)
def test_totals_are_consistent_at_every_point(seed: int) -> None:
    history = generate_history(seed)
    state = empty_state("fund-demo")
    for event in fund_events(history):
        state = evolve(state, event)
        assert 0 <= state.invested <= state.called <= state.committed, event
        for company in state.companies.values():
            assert company.deployed_reserves <= company.planned_reserves, company
            assert company.planned_reserves <= company.allocation_cap, company
            assert company.valuation >= 0, company
    assert state.committed == history.terms.committed_cents
    assert state.skipped_events == 0


def test_the_fold_tells_the_story(history: FundHistory) -> None:
    state = fold(history)
    exited = {
        str(e.data["companyId"])
        for e in history.events
        if e.event_type == "DISTRIBUTION_MADE" and e.data.get("companyId")
    }
    assert exited
    assert state.distributed > 0
    for company in state.companies.values():
        assert company.invested > 0
        assert company.name
        if company.company_id not in exited:
            assert company.valuation > 0, company
    written_down = [c for c in state.companies.values() if c.valuation * 2 < c.invested]
    assert len(written_down) >= 2
    assert any(c.valuation > 2 * c.invested for c in state.companies.values())
    assert state.variances()
    # Planned reserves are exactly the last RESERVE_ALLOCATED of each company.
    planned: dict[str, object] = {}
    for event in history.events:
        if event.event_type == "RESERVE_ALLOCATED":
            planned[str(event.data["companyId"])] = event.data["plannedReservesCents"]
    assert {c.company_id: c.planned_reserves for c in state.companies.values()} == planned
    # The whole state renders to the wire form (every figure fits its proto field).
    assert state_to_proto(state).invested_cents == state.invested


def test_batches_are_quarters_of_at_most_max_events(history: FundHistory) -> None:
    batches = quarter_batches(history, 300)
    assert [event for batch in batches for event in batch.events] == list(history.events)
    for batch in batches:
        assert 1 <= len(batch.events) <= 300
        quarters = {(e.occurred_on.year, (e.occurred_on.month - 1) // 3) for e in batch.events}
        assert len(quarters) == 1, batch.label
    # The year's last append ends on the year's last quarter.
    first_year = [b for b in batches if b.events[-1].occurred_on <= history.year_one_end]
    assert first_year[-1].label.startswith(f"{history.year_one_end.year}-Q4")


@pytest.mark.parametrize("seed", SEEDS)
def test_the_proposal_warns_and_is_allowed(seed: int) -> None:
    state = fold(generate_history(seed))
    plan = propose(lines_from_kernel(state), state.committed)
    proposal = Proposal(
        state.version, tuple(ProposedAmount(company, cents) for company, cents in plan.proposals)
    )
    result = plan_reallocation(state, proposal, Thresholds())
    kinds = {finding.type for finding in result.findings}
    assert kinds == {FindingType.HIGH_CONCENTRATION, FindingType.ALLOCATION_EXCEEDS_FUND_SHARE}
    assert result.commit_allowed
    assert result.changes


def test_the_report_has_a_row_per_company(history: FundHistory) -> None:
    state = state_to_proto(fold(history))
    rows = list(csv.reader(io.StringIO(quarterly_report_csv(state, "2025-Q4").decode())))
    assert rows[1][0] == "company_id"
    assert len(rows) == 2 + len(state.companies) + 1
    assert rows[-1][0] == "TOTAL"
    assert int(rows[-1][3]) == state.invested_cents
