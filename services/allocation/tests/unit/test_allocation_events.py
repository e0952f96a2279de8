"""The events a commit appends: valid fund payloads, in order, deterministic, folding right."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from allocation.domain.commit_events import as_logged, new_version, reallocation_events
from allocation.domain.model import Plan
from allocation.domain.plan import plan_reallocation
from allocation.domain.thresholds import Thresholds
from allocation_support import Company, fund_state, logged, payloads, proposal
from fundledger.fund.v1 import events_pb2 as ev
from fundledger_kernel import canonical_json, validate_fund_payload
from fundledger_kernel.fund import FundState, decode_event, empty_state, project
from fundledger_kernel.fund.fold_input import fold_logged
from google.protobuf.timestamp_pb2 import Timestamp

QUIET = Thresholds(concentration_bps=10_000, fund_share_bps=1_000_000)
COMPANIES = [
    Company("acme", "Acme", planned=100_000_000),
    Company("beta", "Beta", planned=40_000_000),
    Company("gamma", "Gamma"),
]


def _plan() -> tuple[FundState, Plan]:
    state = fund_state(COMPANIES)
    amounts = (("gamma", 5_000_000), ("acme", 150_000_000), ("beta", 40_000_000))
    return state, plan_reallocation(state, proposal(state.version, *amounts), QUIET)


def test_one_reserve_allocated_per_change_then_the_audit_record() -> None:
    state, plan = _plan()
    events = reallocation_events(plan, "Q3 review", "u-1")
    assert [e.event_type for e in events] == [
        "RESERVE_ALLOCATED",
        "RESERVE_ALLOCATED",
        "REALLOCATION_COMMITTED",
    ]
    # Every payload passes the event store's strict schema check (ints, required fields).
    messages = [validate_fund_payload(e.event_type, e.data) for e in events]
    assert messages[0] == ev.ReserveAllocated(company_id="acme", planned_reserves_cents=150_000_000)
    assert messages[1] == ev.ReserveAllocated(company_id="gamma", planned_reserves_cents=5_000_000)
    assert messages[2] == ev.ReallocationCommitted(
        baseline_version=state.version,
        new_version=state.version + 3,
        changes=[
            ev.ReallocationChange(
                company_id="acme",
                name="Acme",
                from_cents=100_000_000,
                to_cents=150_000_000,
                delta_cents=50_000_000,
            ),
            ev.ReallocationChange(
                company_id="gamma",
                name="Gamma",
                from_cents=0,
                to_cents=5_000_000,
                delta_cents=5_000_000,
            ),
        ],
        reason="Q3 review",
        user_id="u-1",
        total_before_cents=140_000_000,
        total_after_cents=195_000_000,
        baseline_effective_at=_ts(datetime(2025, 1, 1, tzinfo=UTC)),
        baseline_recorded_at=_ts(datetime(2025, 1, 1, tzinfo=UTC)),
    )
    assert new_version(plan) == state.version + 3


def _ts(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def test_the_audit_record_carries_both_clocks_of_its_baseline() -> None:
    # Recorded in December; the last event is a valuation backdated to the quarter end, so the
    # state's business time is earlier than the latest one it holds before it (a reserve
    # decision effective 1 December).
    recorded = datetime(2025, 12, 10, 9, 30, 0, 123_456, tzinfo=UTC)
    quarter_end = datetime(2025, 9, 30, tzinfo=UTC)
    opening = [
        logged("fund-unit", v, t, d, recorded, quarter_end)
        for v, (t, d) in enumerate(payloads(COMPANIES), start=1)
    ]
    december = datetime(2025, 12, 1, tzinfo=UTC)
    decision = logged(
        "fund-unit",
        len(opening) + 1,
        "RESERVE_ALLOCATED",
        {"company_id": "gamma", "planned_reserves_cents": 7},
        recorded,
        december,
    )
    mark = logged(
        "fund-unit",
        len(opening) + 2,
        "VALUATION_UPDATED",
        {"company_id": "acme", "valuation_cents": 9, "method": "VALUATION_METHOD_WRITE_DOWN"},
        recorded + timedelta(days=3),
        quarter_end,
        schema_version=2,
    )
    state = fold_logged(empty_state("fund-unit"), [*opening, decision, mark])
    plan = plan_reallocation(state, proposal(state.version, ("gamma", 8)), QUIET)
    *_, audit = reallocation_events(plan, "r", "u")
    assert audit.data["baseline_effective_at"] == "2025-12-01T00:00:00.000000Z"
    assert audit.data["baseline_recorded_at"] == "2025-12-13T09:30:00.123456Z"
    message = validate_fund_payload(audit.event_type, audit.data)
    assert isinstance(message, ev.ReallocationCommitted)
    assert message.baseline_effective_at.ToDatetime(tzinfo=UTC) == december
    assert message.baseline_recorded_at.ToDatetime(tzinfo=UTC) == recorded + timedelta(days=3)


def test_zero_amounts_are_written_not_dropped() -> None:
    state = fund_state(COMPANIES)
    plan = plan_reallocation(state, proposal(state.version, ("beta", 0)), QUIET)
    allocated, audit = reallocation_events(plan, "wind down", "u")
    assert allocated.data == {"company_id": "beta", "planned_reserves_cents": 0}
    changes = audit.data["changes"]
    assert isinstance(changes, list)
    assert changes[0]["to_cents"] == 0
    validate_fund_payload(audit.event_type, audit.data)


def test_same_plan_gives_the_same_bytes() -> None:
    _, plan = _plan()
    first = [canonical_json(dict(e.data)) for e in reallocation_events(plan, "r", "u")]
    again = [canonical_json(dict(e.data)) for e in reallocation_events(plan, "r", "u")]
    assert first == again


def test_folding_the_events_applies_the_proposal_once() -> None:
    state, plan = _plan()
    at = datetime(2025, 2, 1, tzinfo=UTC)
    events = [
        decode_event(e.event_type, e.data, state.version + i, at)
        for i, e in enumerate(reallocation_events(plan, "r", "u"), start=1)
    ]
    after = project(state, events)
    assert after.version == new_version(plan)
    assert {c: after.companies[c].planned_reserves for c in after.companies} == {
        "acme": 150_000_000,
        "beta": 40_000_000,
        "gamma": 5_000_000,
    }
    assert after.total_planned_reserves == plan.totals.after_cents


def test_a_plan_with_errors_cannot_become_events() -> None:
    state = fund_state(COMPANIES)
    plan = plan_reallocation(state, proposal(state.version, ("acme", -1)), QUIET)
    with pytest.raises(ValueError, match="error findings"):
        reallocation_events(plan, "r", "u")


def test_our_append_as_the_log_holds_it_folds_like_the_proposal() -> None:
    state, plan = _plan()
    at = datetime(2025, 2, 1, tzinfo=UTC)
    batch = reallocation_events(plan, "r", "u")
    logged = as_logged("fund-unit", batch, state.version + 1, 40, at, ["e1", "e2", "e3"])
    assert [(e.version, e.position, e.event_id) for e in logged] == [
        (state.version + 1, 40, "e1"),
        (state.version + 2, 41, "e2"),
        (state.version + 3, 42, "e3"),
    ]
    assert [e.data for e in logged] == [canonical_json(dict(e.data)) for e in batch]
    assert {(e.stream_id, e.recorded_at) for e in logged} == {("fund-unit", at)}
    after = fold_logged(state, logged)
    assert after.version == new_version(plan)
    assert after.total_planned_reserves == plan.totals.after_cents
    with pytest.raises(ValueError, match="zip"):  # the store must name one id per event
        as_logged("fund-unit", batch, state.version + 1, 40, at, ["e1"])
