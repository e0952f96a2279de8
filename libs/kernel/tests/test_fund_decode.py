"""decode_event: stored events in any of their shapes become the same validated FundEvent."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fundledger.fund.v1 import events_pb2
from fundledger_kernel import PayloadError
from fundledger_kernel.fund import FundEvent, decode_event

T0 = datetime(2026, 3, 1, tzinfo=UTC)
# A schema-version-1 payload, upcast: instrument EQUITY.
EXPECTED = events_pb2.InvestmentMade(
    company_id="c1",
    amount_cents=2**62,
    ownership_bps=10,
    instrument=events_pb2.INSTRUMENT_EQUITY,
)


@pytest.mark.parametrize(
    "data",
    [
        b'{"company_id": "c1", "amount_cents": 4611686018427387904, "ownership_bps": 10}',
        '{"companyId": "c1", "amountCents": 4611686018427387904, "ownershipBps": 10}',
        {"company_id": "c1", "amount_cents": 2**62, "ownership_bps": 10},
    ],
    ids=["bytes", "text-json-names", "mapping"],
)
def test_each_shape_decodes_to_the_same_event(data: bytes | str | dict[str, object]) -> None:
    event = decode_event("INVESTMENT_MADE", data, 4, T0)
    assert event == FundEvent("INVESTMENT_MADE", EXPECTED, 4, T0)
    assert isinstance(event.data, events_pb2.InvestmentMade)
    assert event.data.amount_cents == 2**62  # exact: never through a binary fraction


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"company_id": "c1"}, "data.amount_cents"),
        ({"company_id": "c1", "amount_cents": "100.5"}, "data.amount_cents"),
        ({"company_id": "c1", "amount_cents": str(2**63)}, "data.amount_cents"),
        ({"company_id": "c1", "amount_cents": 2**63}, "data.amount_cents"),
        ({"company_id": "c1", "amount_cents": 1, "typo": 1}, "data.typo"),
        (b'{"company_id": "c1", "amount_cents": 1, "amount_cents": 2}', "data"),
        ("[1, 2]", "data"),
        ('{"company_id": "\ud800", "amount_cents": 1}', "data"),
    ],
)
def test_invalid_fund_payloads_are_refused_naming_the_field(
    data: bytes | str | dict[str, object], field: str
) -> None:
    with pytest.raises(PayloadError) as caught:
        decode_event("INVESTMENT_MADE", data, 1, T0)
    assert caught.value.field == field


def test_other_event_types_are_not_parsed() -> None:
    # Not a fund event type: the fold will skip it, so its data must not be able to fail it.
    event = decode_event("UserLoggedIn", b"\xff not json", 8, T0)
    assert event == FundEvent("UserLoggedIn", None, 8, T0)


def test_fund_event_types_are_case_sensitive() -> None:
    assert decode_event("fund_created", {}, 1, T0).data is None
