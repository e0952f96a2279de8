"""FundView: folding log events (the kernel's fold input) and the audit trail they carry."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import pytest
from allocation.domain.commit_events import reallocation_events
from allocation.domain.fund_view import advance, empty_view
from allocation.domain.plan import plan_reallocation
from allocation.domain.thresholds import Thresholds
from allocation_support import Company, logged, payloads, proposal
from fundledger_kernel.fund import empty_state
from fundledger_kernel.fund.fold_input import (
    BackdatedEventError,
    LogGapError,
    LoggedEvent,
    UnreadableEventError,
    fold_logged,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)
FUND = "fund-x"


def at(version: int, event_type: str, data: Mapping[str, object]) -> LoggedEvent:
    return logged(FUND, version, event_type, dict(data), T0 + timedelta(seconds=version))


def opening(companies: list[Company]) -> list[LoggedEvent]:
    return [at(v, t, d) for v, (t, d) in enumerate(payloads(companies), start=1)]


def test_advance_folds_and_refuses_gaps() -> None:
    events = opening([Company("a", planned=1), Company("b", planned=2)])  # 5 events
    view = advance(empty_view(FUND), events[:2])
    assert view.version == 2
    with pytest.raises(LogGapError):
        advance(view, events[3:])  # version 3 missing
    with pytest.raises(LogGapError):
        advance(view, events[1:])  # version 2 again
    assert advance(view, events[2:]).version == len(events)


def test_advance_refuses_an_unreadable_payload_instead_of_skipping_it() -> None:
    events = opening([Company("a", planned=1)])
    view = advance(empty_view(FUND), events[:1])
    bad = at(2, "COMPANY_ADDED", {"company_id": 42, "name": "A", "allocation_cap_cents": 0})
    with pytest.raises(UnreadableEventError) as caught:
        advance(view, [bad, *events[2:]])
    assert (caught.value.fund_id, caught.value.version) == (FUND, 2)
    assert caught.value.event_type == "COMPANY_ADDED"


def test_audit_records_are_collected_and_paged_newest_first() -> None:
    view = advance(empty_view(FUND), opening([Company("a")]))
    for amount in (10, 20, 30):
        plan = plan_reallocation(
            view.state, proposal(view.version, ("a", amount)), Thresholds(10_000, 1_000_000)
        )
        batch = reallocation_events(plan, f"to {amount}", "u")
        view = advance(
            view,
            [at(view.version + i, e.event_type, e.data) for i, e in enumerate(batch, 1)],
        )
    assert [r.version for r in view.audits] == [4, 6, 8]
    newest = view.audits_before(None, 2)
    assert [(r.version, r.reason) for r in newest] == [(8, "to 30"), (6, "to 20")]
    assert [r.version for r in view.audits_before(6, 2)] == [4]
    assert view.audits_before(4, 2) == []
    record = newest[0]
    assert (record.baseline_version, record.new_version, record.event_id) == (6, 8, "id-8")
    assert [(c.from_cents, c.to_cents) for c in record.changes] == [(20, 30)]
    assert (record.totals.before_cents, record.totals.after_cents) == (20, 30)
    assert record.recorded_at == T0 + timedelta(seconds=8)


def test_a_backdated_event_cannot_continue_a_view_only_a_refold_takes_it() -> None:
    events = opening([Company("a", planned=1)])  # effective when recorded: T0 + version s
    view = advance(empty_view(FUND), events)
    # Recorded after the others, effective before the last of them: it must fold before it.
    backdated = logged(
        FUND,
        len(events) + 1,
        "RESERVE_ALLOCATED",
        {"company_id": "a", "planned_reserves_cents": 99},
        T0 + timedelta(days=1),
        effective_at=T0,
    )
    with pytest.raises(BackdatedEventError) as caught:
        advance(view, [backdated])
    assert (caught.value.version, caught.value.effective_at) == (backdated.version, T0)
    refolded = advance(empty_view(FUND), [*events, backdated])
    assert refolded.state == fold_logged(empty_state(FUND), [*events, backdated])
    # The later-effective RESERVE_ALLOCATED (planned 1) was folded after it and stands.
    assert refolded.state.companies["a"].planned_reserves == 1
    assert refolded.state.version == backdated.version
    assert refolded.state.last_effective_at == T0 + timedelta(seconds=len(events))
    assert refolded.state.last_event_at == T0 + timedelta(days=1)
