"""Pure pieces: sequencing, fund ids, page tokens, wait budgets, decoding into the fold."""

from __future__ import annotations

import pytest
from fundledger.eventstore.v1.events_pb2 import RecordedEvent
from fundledger_kernel.fund import empty_state
from fundledger_kernel.streams import is_fund_id
from fundledger_platform.errors import InvalidArgument
from fundledger_platform.stream_ids import check_fund_id
from projector.domain.fund_events import fold
from projector.domain.sequencing import plan_apply
from projector.entrypoints import mappers as m


def test_plan_apply_next_versions() -> None:
    plan = plan_apply(2, [3, 4])
    assert (plan.first, plan.last, plan.fetch, plan.duplicates) == (3, 4, False, 0)


def test_plan_apply_duplicates_only() -> None:
    plan = plan_apply(5, [4, 5, 5])
    assert plan.empty
    assert plan.duplicates == 3


def test_plan_apply_gap_is_fetched() -> None:
    plan = plan_apply(1, [3])
    assert (plan.first, plan.last, plan.fetch) == (2, 3, True)
    plan = plan_apply(1, [2, 4])  # a hole inside the delivery
    assert (plan.first, plan.last, plan.fetch) == (2, 4, True)


def test_plan_apply_refold_reads_everything_up_to_the_stored_version() -> None:
    plan = plan_apply(7, [], refold=True)
    assert (plan.first, plan.last, plan.fetch) == (1, 7, True)
    assert plan_apply(0, [], refold=True).empty


def test_fund_ids() -> None:
    assert is_fund_id("fund-3f2c:a.b_c-d")
    for bad in ("", "fund-", "fund", "funds-1", "fund-a b", "fund-" + "x" * 200):
        assert not is_fund_id(bad)
    with pytest.raises(InvalidArgument):
        check_fund_id("fund-é")


def test_page_tokens_round_trip_and_reject_forgeries() -> None:
    assert m.decode_token(m.encode_token("fund-42")) == "fund-42"
    assert m.decode_token("") is None
    for forged in ("xyz", m.encode_token("fund-a b"), "ZjI6ZnVuZC0x"):
        with pytest.raises(InvalidArgument):
            m.decode_token(forged)


def test_wait_budget_ends_before_the_deadline() -> None:
    assert m.wait_budget(None, 30.0) == 30.0
    assert m.wait_budget(1.0, 30.0) == pytest.approx(0.8)
    assert m.wait_budget(10.0, 30.0) == pytest.approx(9.5)
    assert m.wait_budget(100.0, 30.0) == 30.0
    assert m.wait_budget(0.0, 30.0) == 0.0


def _recorded(version: int, event_type: str, data: bytes) -> RecordedEvent:
    event = RecordedEvent(
        stream_id="fund-1", version=version, position=version, event_type=event_type, data=data
    )
    event.recorded_at.FromSeconds(1_700_000_000 + version)
    return event


def test_a_payload_the_fold_rejects_is_skipped_and_counted() -> None:
    events = [
        _recorded(1, "CAPITAL_CALLED", b'{"amount_cents": 5}'),
        _recorded(2, "CAPITAL_CALLED", b'{"amount_cents": "lots"}'),
        _recorded(3, "SOMETHING_NEW", b"{}"),
        _recorded(4, "CAPITAL_CALLED", b'{"amount_cents": 6}'),
    ]
    state = fold(empty_state("fund-1"), events)
    assert (state.version, state.called, state.skipped_events) == (4, 11, 2)
