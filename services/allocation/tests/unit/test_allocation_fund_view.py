"""FundView: folding log events with a gap check, and the audit trail they carry."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import pytest
from allocation.domain.commit_events import reallocation_events
from allocation.domain.fund_view import LogGapError, LoggedEvent, advance, empty_view
from allocation.domain.plan import plan_reallocation
from allocation.domain.thresholds import Thresholds
from allocation_support import Company, payloads, proposal
from fundledger_kernel.fund import decode_event

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def logged(version: int, event_type: str, data: Mapping[str, object]) -> LoggedEvent:
    return LoggedEvent(
        decode_event(event_type, data, version, T0 + timedelta(seconds=version)),
        f"id-{version}",
    )


def opening(companies: list[Company]) -> list[LoggedEvent]:
    return [logged(v, t, d) for v, (t, d) in enumerate(payloads(companies), start=1)]


def test_advance_folds_and_refuses_gaps() -> None:
    events = opening([Company("a", planned=1), Company("b", planned=2)])  # 5 events
    view = advance(empty_view("fund-x"), events[:2])
    assert view.version == 2
    with pytest.raises(LogGapError):
        advance(view, events[3:])  # version 3 missing
    with pytest.raises(LogGapError):
        advance(view, events[1:])  # version 2 again
    assert advance(view, events[2:]).version == len(events)


def test_audit_records_are_collected_and_paged_newest_first() -> None:
    view = advance(empty_view("fund-x"), opening([Company("a")]))
    for amount in (10, 20, 30):
        plan = plan_reallocation(
            view.state, proposal(view.version, ("a", amount)), Thresholds(10_000, 1_000_000)
        )
        batch = reallocation_events(plan, f"to {amount}", "u")
        view = advance(
            view,
            [logged(view.version + i, e.event_type, e.data) for i, e in enumerate(batch, 1)],
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
