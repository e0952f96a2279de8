"""decode_stored_event: the fast decode of events read back from the event store gives exactly
what decode_event gives, for every payload — the same event, or the same refusal."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from fundledger.fund.v1 import events_pb2
from fundledger_kernel import PayloadError
from fundledger_kernel.fund import (
    FundEvent,
    decode_event,
    decode_stored_event,
    empty_state,
    project,
)

T0 = datetime(2026, 3, 1, tzinfo=UTC)

SAME = [
    ("INVESTMENT_MADE", b'{"company_id": "c1", "amount_cents": 4611686018427387904}'),
    ("INVESTMENT_MADE", b'{"company_id":"c1","amount_cents":5,"from_reserves":true}'),
    ("INVESTMENT_MADE", '{"companyId": "c1", "amountCents": 7}'),  # json names
    ("INVESTMENT_MADE", b'{"company_id": "c1", "amount_cents": "12"}'),  # int64 as a string
    ("INVESTMENT_MADE", b'{"company_id": "c1", "amount_cents": 3, "ownership_bps": null}'),
    (
        "FUND_CREATED",
        json.dumps(
            {"name": "F", "committed_capital_cents": 10, "currency": "USD", "vintage_year": 2024}
        ).encode(),
    ),
    ("COMPANY_ADDED", b'{"company_id": "c\\u00e9", "name": "Caf\\u00e9"}'),  # escapes
    ("COMPANY_ADDED", '{"company_id": "cé", "name": "Café"}'.encode()),
    ("VALUATION_UPDATED", b'{"company_id": "c1", "valuation_cents": -5}'),
    ("CAPITAL_CALLED", b'{"amount_cents": 100}'),
    (
        "REALLOCATION_COMMITTED",
        json.dumps(
            {
                "baseline_version": 3,
                "new_version": 5,
                "changes": [
                    {"company_id": "a", "from_cents": 1, "to_cents": 2, "delta_cents": 1},
                ],
                "reason": "r",
                "user_id": "u",
            }
        ).encode(),
    ),
    ("NOT_A_FUND_TYPE", b"\xff not json"),
]

REFUSED = [
    ("INVESTMENT_MADE", b'{"company_id": "c1"}'),
    ("INVESTMENT_MADE", b'{"company_id": "c1", "amount_cents": 100.0}'),
    ("INVESTMENT_MADE", b'{"company_id": "c1", "amount_cents": 9223372036854775808}'),
    ("INVESTMENT_MADE", b'{"company_id": "c1", "amount_cents": true}'),
    ("INVESTMENT_MADE", b'{"company_id": 5, "amount_cents": 1}'),
    ("INVESTMENT_MADE", b'{"company_id": "c1", "amount_cents": 1, "typo": 1}'),
    ("INVESTMENT_MADE", b'{"company_id": "c1", "amount_cents": 1, "amount_cents": 2}'),
    ("INVESTMENT_MADE", b'{"company_id": "c1", "amount_cents": 1, "from_reserves": 1}'),
    ("INVESTMENT_MADE", b'{"company_id": "c1", "amount_cents": NaN}'),
    ("INVESTMENT_MADE", b'{"company_id": "c1", "amount_cents": 1e400}'),
    ("INVESTMENT_MADE", b'{"company_id": "\\ud800", "amount_cents": 1}'),
    ("INVESTMENT_MADE", '{"company_id": "\ud800", "amount_cents": 1}'),
    ("INVESTMENT_MADE", b'\xef\xbb\xbf{"company_id": "c1", "amount_cents": 1}'),
    ("INVESTMENT_MADE", b'{"company_id": "c1", "amount_cents": 1'),
    ("INVESTMENT_MADE", b"[1, 2]"),
    ("INVESTMENT_MADE", b"\xff"),
    ("INVESTMENT_MADE", b""),
]


@pytest.mark.parametrize(("event_type", "data"), SAME)
def test_the_same_event_as_decode_event(event_type: str, data: bytes | str) -> None:
    stored = decode_stored_event(event_type, data, 4, T0)
    assert stored == decode_event(event_type, data, 4, T0)
    assert type(stored.data) is type(decode_event(event_type, data, 4, T0).data)


@pytest.mark.parametrize(("event_type", "data"), REFUSED)
def test_the_same_refusal_as_decode_event(event_type: str, data: bytes | str) -> None:
    with pytest.raises(PayloadError) as strict:
        decode_event(event_type, data, 1, T0)
    with pytest.raises(PayloadError) as stored:
        decode_stored_event(event_type, data, 1, T0)
    assert (stored.value.field, str(stored.value)) == (strict.value.field, str(strict.value))


def test_a_fold_of_stored_events_equals_the_strict_fold() -> None:
    events = [
        (
            "FUND_CREATED",
            b'{"name": "F", "committed_capital_cents": 100, "currency": "USD",'
            b' "vintage_year": 2024}',
        ),
        ("INVESTMENT_MADE", b'{"company_id": "b", "amount_cents": 40, "ownership_bps": 900}'),
        ("COMPANY_ADDED", b'{"company_id": "b", "name": "Beta", "allocation_cap_cents": 70}'),
        ("SOMETHING_NEWER", b'{"x": 1}'),
        ("VALUATION_UPDATED", b'{"company_id": "b", "valuation_cents": 90}'),
    ]
    strict = project(
        empty_state("fund-1"),
        (decode_event(t, d, v, T0) for v, (t, d) in enumerate(events, start=1)),
    )
    fast = project(
        empty_state("fund-1"),
        (decode_stored_event(t, d, v, T0) for v, (t, d) in enumerate(events, start=1)),
    )
    assert fast == strict
    assert fast.skipped_events == 1


def test_the_message_is_the_payload_type() -> None:
    event = decode_stored_event("CAPITAL_CALLED", b'{"amount_cents": 5}', 2, T0)
    assert event == FundEvent("CAPITAL_CALLED", events_pb2.CapitalCalled(amount_cents=5), 2, T0)
