"""Business time against a real event store: backdated events reach preview and commit exactly
as a fold from scratch has them, and REALLOCATION_COMMITTED records both clocks."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from allocation_stack import Stack
from allocation_support import Company, new_fund, proposals, read_from, seed_fund
from fundledger.allocation.v1 import allocation_pb2 as pb
from fundledger.eventstore.v1 import events_pb2
from fundledger.eventstore.v1 import eventstore_pb2 as es
from fundledger.fund.v1 import events_pb2 as ev
from fundledger_kernel import validate_fund_payload
from fundledger_kernel.fund import FundState, empty_state
from fundledger_kernel.fund.fold_input import fold_logged
from fundledger_platform.recorded import logged_event

PORTFOLIO = [
    Company("acme", "Acme", cap=500_000_000, planned=100_000_000),
    Company("beta", "Beta", cap=500_000_000, planned=90_000_000),
]
Q2_END = datetime(2025, 6, 30, tzinfo=UTC)
Q3_END = datetime(2025, 9, 30, tzinfo=UTC)
MID_OCTOBER = datetime(2025, 10, 15, tzinfo=UTC)
NOVEMBER = datetime(2025, 11, 1, tzinfo=UTC)


def _dated(event_type: str, data: dict[str, Any], effective: datetime) -> events_pb2.EventData:
    event = events_pb2.EventData(
        event_type=event_type,
        data=json.dumps(data).encode(),
        # Valuations are written in their newest shape (with the method).
        schema_version=2 if event_type == "VALUATION_UPDATED" else 1,
    )
    event.effective_at.FromDatetime(effective)
    return event


def _reserve(company: str, cents: int, effective: datetime) -> events_pb2.EventData:
    return _dated(
        "RESERVE_ALLOCATED", {"company_id": company, "planned_reserves_cents": cents}, effective
    )


def _mark(company: str, cents: int, method: str, effective: datetime) -> events_pb2.EventData:
    data = {"company_id": company, "valuation_cents": cents, "method": method}
    return _dated("VALUATION_UPDATED", data, effective)


async def _append(stack: Stack, fund: str, *events: events_pb2.EventData) -> int:
    response = await stack.store.AppendToStream(
        es.AppendToStreamRequest(stream_id=fund, events=list(events))
    )
    return int(response.last_version)


async def _from_scratch(stack: Stack, fund: str) -> FundState:
    """The fold from scratch of every event the store holds, in business-time order."""
    logged = [logged_event(event) for event in await read_from(stack.store, fund, 1)]
    return fold_logged(empty_state(fund), logged)


async def _cached_state(stack: Stack, fund: str, version: int) -> FundState:
    view = stack.allocation.views.cached_at(fund, version)
    assert view is not None, f"allocation holds no view of {fund} at v{version}"
    return view.state


async def _preview(stack: Stack, fund: str, version: int) -> pb.PreviewReallocationResponse:
    return await stack.api.PreviewReallocation(
        pb.PreviewReallocationRequest(
            fund_id=fund, expected_version=version, proposals=proposals(("acme", 120_000_000))
        )
    )


async def test_backdated_events_reach_preview_as_a_fold_from_scratch_has_them(
    stack: Stack,
) -> None:
    fund = new_fund()
    await seed_fund(stack.store, fund, PORTFOLIO)  # effective when recorded: now
    # Quarter-end marks and a reserve decision dated in the past (recorded now, after the seed:
    # the first backdating the view sees).
    version = await _append(
        stack,
        fund,
        _mark("acme", 300_000_000, "VALUATION_METHOD_MARK_TO_MODEL", Q3_END),
        _reserve("acme", 110_000_000, Q3_END),
        _mark("beta", 50_000_000, "VALUATION_METHOD_LAST_ROUND", NOVEMBER),
    )
    first = await _preview(stack, fund, version)
    state = await _cached_state(stack, fund, version)
    assert state == await _from_scratch(stack, fund)
    # The seed (effective now) folds after the dated decision: acme's reserves are the seed's.
    assert [(c.company_id, c.from_cents) for c in first.changes] == [("acme", 100_000_000)]

    # Now, in business order between what the view holds: a mid-October reserve decision
    # and a Q2 write-down. Neither can be folded on top of the cached view.
    version = await _append(
        stack,
        fund,
        _reserve("beta", 60_000_000, MID_OCTOBER),
        _mark("acme", 40_000_000, "VALUATION_METHOD_WRITE_DOWN", Q2_END),
    )
    second = await _preview(stack, fund, version)
    assert second.current_version == version
    state = await _cached_state(stack, fund, version)
    assert state == await _from_scratch(stack, fund)
    # The Q2 write-down is older than the Q3 mark, which stays acme's valuation; beta's
    # mid-October reserves sort before the seed's (effective now), which still stand.
    assert state.companies["acme"].valuation == 300_000_000
    assert state.companies["beta"].planned_reserves == 90_000_000
    assert state.last_effective_at is not None
    assert state.version == version
    assert (second.totals.before_cents, second.totals.after_cents) == (
        190_000_000,
        210_000_000,
    )


async def test_a_late_write_down_effective_last_changes_the_valuation_preview_sees(
    stack: Stack,
) -> None:
    fund = new_fund()
    version = await _append(
        stack,
        fund,
        _dated(
            "FUND_CREATED",
            {
                "name": "Dated Fund",
                "committed_capital_cents": 10_000_000_000,
                "currency": "USD",
                "vintage_year": 2024,
            },
            Q2_END,
        ),
        _dated(
            "COMPANY_ADDED",
            {"company_id": "acme", "name": "Acme", "allocation_cap_cents": 500_000_000},
            Q2_END,
        ),
        _reserve("acme", 100_000_000, Q2_END),
        _mark("acme", 300_000_000, "VALUATION_METHOD_MARK_TO_MODEL", Q3_END),
        _reserve("acme", 150_000_000, NOVEMBER),
    )
    await _preview(stack, fund, version)
    # Recorded now, effective mid-October: between the Q3 mark and November's decision.
    version = await _append(
        stack,
        fund,
        _mark("acme", 30_000_000, "VALUATION_METHOD_WRITE_DOWN", MID_OCTOBER),
        _reserve("acme", 20_000_000, Q3_END),
    )
    preview = await _preview(stack, fund, version)
    state = await _cached_state(stack, fund, version)
    assert state == await _from_scratch(stack, fund)
    acme = state.companies["acme"]
    assert (acme.valuation, acme.valuation_method) == (30_000_000, ev.VALUATION_METHOD_WRITE_DOWN)
    # The Q3 reserve decision is older than November's, which stands: 150M -> 120M.
    assert [(c.from_cents, c.to_cents) for c in preview.changes] == [(150_000_000, 120_000_000)]


async def test_the_committed_audit_event_records_both_clocks_of_its_baseline(
    stack: Stack,
) -> None:
    fund = new_fund()
    await seed_fund(stack.store, fund, PORTFOLIO)
    # Backdated last: the baseline's business time is now earlier than its newest recorded
    # event's recording, and is not that event's own effective time.
    version = await _append(
        stack, fund, _mark("acme", 300_000_000, "VALUATION_METHOD_WRITE_DOWN", Q3_END)
    )
    baseline = await _from_scratch(stack, fund)
    events = await read_from(stack.store, fund, 1)
    last = events[-1]

    response = await stack.api.CommitReallocation(
        pb.CommitReallocationRequest(
            fund_id=fund,
            expected_version=version,
            proposals=proposals(("acme", 120_000_000)),
            reason="after the write-down",
            user_id="alice",
        )
    )

    assert response.baseline_version == version
    written = await read_from(stack.store, fund, version + 1)
    assert [e.event_type for e in written] == ["RESERVE_ALLOCATED", "REALLOCATION_COMMITTED"]
    audit = validate_fund_payload("REALLOCATION_COMMITTED", json.loads(written[-1].data))
    assert isinstance(audit, ev.ReallocationCommitted)
    assert baseline.last_effective_at is not None
    assert baseline.last_effective_at > Q3_END  # the seed's, effective when recorded
    assert audit.baseline_effective_at.ToDatetime(tzinfo=UTC) == baseline.last_effective_at
    assert audit.baseline_recorded_at == last.recorded_at
    assert audit.baseline_recorded_at.ToDatetime(tzinfo=UTC) == baseline.last_event_at
    # The decision itself is effective when it was made: the commit time.
    for event in written:
        assert event.effective_at == event.recorded_at
        assert event.recorded_at.ToDatetime() >= last.recorded_at.ToDatetime()
    # ListReallocationAudit shows both clocks of the baseline.
    listed = await stack.api.ListReallocationAudit(pb.ListReallocationAuditRequest(fund_id=fund))
    entry = listed.entries[0]
    assert entry.baseline_effective_at == audit.baseline_effective_at
    assert entry.baseline_recorded_at == last.recorded_at
