"""Business time in the fold: effective order, backdated events, the two-axis selection."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from fundledger.fund.v1 import events_pb2
from fundledger_kernel.fund import empty_state
from fundledger_kernel.fund.fold_input import (
    BackdatedEventError,
    LoggedEvent,
    fold_logged,
    fold_selected,
)

FUND = "fund-7d0c6f1e-0000-4000-8000-00000000000b"
SEP30 = datetime(2025, 9, 30, tzinfo=UTC)
DAY = timedelta(days=1)


def logged(
    version: int,
    event_type: str,
    data: dict[str, object],
    recorded_at: datetime,
    effective_at: datetime | None = None,
    schema_version: int = 1,
) -> LoggedEvent:
    return LoggedEvent(
        stream_id=FUND,
        version=version,
        position=version,
        event_id=f"e{version}",
        event_type=event_type,
        data=json.dumps(data).encode(),
        recorded_at=recorded_at,
        schema_version=schema_version,
        effective_at=effective_at,
    )


def mark(version: int, cents: int, recorded: datetime, effective: datetime) -> LoggedEvent:
    data = {"company_id": "c1", "valuation_cents": cents, "method": "VALUATION_METHOD_LAST_ROUND"}
    return logged(version, "VALUATION_UPDATED", data, recorded, effective, schema_version=2)


CREATED = logged(
    1,
    "FUND_CREATED",
    {"name": "F", "committed_capital_cents": 10_000, "currency": "USD"},
    SEP30 - 90 * DAY,
)
# Q3 mark (effective 30 Sep, recorded 15 Oct), then Q4 mark (effective 31 Dec, recorded 10 Jan).
Q3 = mark(2, 1_000, SEP30 + 15 * DAY, SEP30)
Q4 = mark(3, 2_000, SEP30 + 102 * DAY, SEP30 + 92 * DAY)
# A write-down of the Q3 mark, recorded in February.
WRITE_DOWN = mark(4, 400, SEP30 + 140 * DAY, SEP30)


def test_unset_effective_time_is_the_recorded_time() -> None:
    state = fold_logged(empty_state(FUND), [CREATED])
    assert state.last_effective_at == state.last_event_at == CREATED.recorded_at


def test_latest_effective_valuation_wins_not_latest_recorded() -> None:
    state = fold_logged(empty_state(FUND), [CREATED, Q3, Q4, WRITE_DOWN])
    company = state.companies["c1"]
    assert company.valuation == 2_000  # Q4 is later effective than the write-down
    assert company.valuation_effective_at == Q4.effective_at
    assert state.version == 4
    assert state.last_event_at == WRITE_DOWN.recorded_at
    assert state.last_effective_at == Q4.effective_at


def test_a_late_backdated_event_cannot_be_folded_on_top() -> None:
    state = fold_logged(empty_state(FUND), [CREATED, Q3, Q4])
    with pytest.raises(BackdatedEventError) as caught:
        fold_logged(state, [WRITE_DOWN])
    assert (caught.value.version, caught.value.effective_at) == (4, SEP30)
    # A base at or before the event's effective time is fine.
    base = fold_logged(empty_state(FUND), [CREATED, Q3])
    assert base.last_effective_at == SEP30
    assert fold_logged(base, [Q4, WRITE_DOWN]) == fold_logged(
        empty_state(FUND), [CREATED, Q3, Q4, WRITE_DOWN]
    )


def test_equal_effective_times_fold_in_version_order() -> None:
    later = mark(3, 777, SEP30 + 20 * DAY, SEP30)
    state = fold_logged(fold_logged(empty_state(FUND), [CREATED, Q3]), [later])
    assert state.companies["c1"].valuation == 777


def test_q3_nav_as_reported_and_as_known_now() -> None:
    events = [CREATED, Q3, Q4, WRITE_DOWN]
    reported = fold_selected(
        empty_state(FUND), events, effective_at=SEP30, known_at=SEP30 + 30 * DAY
    )
    now = fold_selected(empty_state(FUND), events, effective_at=SEP30)
    assert reported.companies["c1"].valuation == 1_000
    assert now.companies["c1"].valuation == 400
    assert (reported.version, now.version) == (2, 4)


def test_selection_from_a_base_that_a_selected_event_sorts_before() -> None:
    base = fold_logged(empty_state(FUND), [CREATED, Q3, Q4])
    with pytest.raises(BackdatedEventError):
        fold_selected(base, [WRITE_DOWN])
    with pytest.raises(ValueError, match="not within"):
        fold_selected(base, [WRITE_DOWN], effective_at=SEP30)


def test_v1_and_v2_histories_fold_alike() -> None:
    v1 = logged(2, "INVESTMENT_MADE", {"company_id": "c1", "amount_cents": 300}, SEP30)
    v2 = logged(
        3,
        "INVESTMENT_MADE",
        {
            "company_id": "c1",
            "amount_cents": 200,
            "instrument": "INSTRUMENT_CONVERTIBLE_NOTE",
            "shares": 10,
            "price_per_share_micros": 20_000_000,
        },
        SEP30 + DAY,
        schema_version=2,
    )
    state = fold_logged(empty_state(FUND), [CREATED, v1, v2])
    company = state.companies["c1"]
    assert (company.invested, company.shares, company.price_per_share_micros) == (
        500,
        10,
        20_000_000,
    )
    assert company.instrument == events_pb2.INSTRUMENT_CONVERTIBLE_NOTE
    only_v1 = fold_logged(empty_state(FUND), [CREATED, v1])
    assert only_v1.companies["c1"].instrument == events_pb2.INSTRUMENT_EQUITY
