"""fold_inputs: the one way recorded events become fold input — consecutive versions or
LogGapError, decodable payloads or UnreadableEventError, and the same state a direct fold gives."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from fundledger_kernel.fund import decode_event, empty_state, project
from fundledger_kernel.fund.fold_input import (
    FundLogError,
    LogGapError,
    LoggedEvent,
    UnreadableEventError,
    fold_inputs,
    fold_logged,
)

T0 = datetime(2026, 3, 1, tzinfo=UTC)
FUND = "fund-f1"
PAYLOADS = [
    ("FUND_CREATED", {"name": "F", "committed_capital_cents": 1000, "currency": "USD"}),
    ("COMPANY_ADDED", {"company_id": "c1", "name": "Acme"}),
    ("INVESTMENT_MADE", {"company_id": "c1", "amount_cents": 250}),
    ("SOMETHING_ELSE", {"any": "thing"}),  # not a fund event type: passes through as data=None
    ("VALUATION_UPDATED", {"company_id": "c1", "valuation_cents": 900}),
]


def _logged(version: int, event_type: str, data: bytes) -> LoggedEvent:
    return LoggedEvent(FUND, version, 100 + version, f"id-{version}", event_type, data, T0)


def _history() -> list[LoggedEvent]:
    return [
        _logged(version, event_type, json.dumps(data).encode())
        for version, (event_type, data) in enumerate(PAYLOADS, start=1)
    ]


def test_consecutive_events_fold_like_the_strict_decoder() -> None:
    events = _history()
    expected = project(
        empty_state(FUND),
        [decode_event(e.event_type, e.data, e.version, e.recorded_at) for e in events],
    )
    assert fold_logged(empty_state(FUND), events) == expected
    assert [e.version for e in fold_inputs(0, events)] == [1, 2, 3, 4, 5]
    assert (expected.invested, expected.skipped_events, expected.version) == (250, 1, 5)


def test_continuing_from_a_state_checks_against_its_version() -> None:
    events = _history()
    base = fold_logged(empty_state(FUND), events[:2])
    assert fold_logged(base, events[2:]) == fold_logged(empty_state(FUND), events)
    with pytest.raises(LogGapError):
        fold_logged(base, events[3:])  # skips version 3


@pytest.mark.parametrize(
    ("versions", "expected_at"),
    [([1, 3], 2), ([2], 1), ([1, 2, 2], 3), ([1, 1], 2)],
    ids=["missing", "first-missing", "repeated", "duplicate-first"],
)
def test_a_gap_or_repeat_is_refused_naming_the_version(
    versions: list[int], expected_at: int
) -> None:
    events = [_logged(v, "CAPITAL_CALLED", b'{"amount_cents": 1}') for v in versions]
    with pytest.raises(LogGapError) as caught:
        fold_inputs(0, events)
    assert (caught.value.fund_id, caught.value.version) == (FUND, expected_at)
    assert isinstance(caught.value, FundLogError)


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        b'{"amount_cents": 1.5}',
        b'{"amount_cents": "x"}',
        b"[1]",
        b'{"amount_cents": true}',
    ],
)
def test_an_unreadable_fund_payload_is_refused_not_skipped(data: bytes) -> None:
    events = [
        _logged(1, "CAPITAL_CALLED", b'{"amount_cents": 1}'),
        _logged(2, "CAPITAL_CALLED", data),
    ]
    with pytest.raises(UnreadableEventError) as caught:
        fold_inputs(0, events)
    err = caught.value
    assert (err.fund_id, err.version, err.event_type) == (FUND, 2, "CAPITAL_CALLED")
    assert "CAPITAL_CALLED" in str(err)
    assert FUND in str(err)


def test_an_unknown_event_type_is_never_parsed() -> None:
    # Another service's event in a fund stream: the fold skips and counts it, whatever its data.
    [event] = fold_inputs(0, [_logged(1, "NOT_A_FUND_EVENT", b"not even json")])
    assert event.data is None
