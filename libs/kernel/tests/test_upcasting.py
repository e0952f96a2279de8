"""Upcasting: old payloads read in the newest shape; versions a server does not know refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from fundledger.fund.v1 import events_pb2
from fundledger_kernel import PayloadError, validate_fund_payload, validate_new_fund_payload
from fundledger_kernel.fund import decode_event, decode_stored_event
from fundledger_kernel.fund_schemas import newest_schema_version, upcast
from fundledger_kernel.upcasting import Step, UpcasterRegistry

T0 = datetime(2026, 3, 1, tzinfo=UTC)
V1_INVESTMENT = {"company_id": "c1", "amount_cents": 500, "round": "Seed"}
V2_INVESTMENT = {
    **V1_INVESTMENT,
    "instrument": "INSTRUMENT_SAFE",
    "shares": 1_000,
    "price_per_share_micros": 2_500_000,
}


def test_newest_versions() -> None:
    assert newest_schema_version("INVESTMENT_MADE") == 2
    assert newest_schema_version("VALUATION_UPDATED") == 2
    assert newest_schema_version("FUND_CREATED") == 1


@pytest.mark.parametrize("version", [0, 1])
def test_v1_investment_reads_as_equity_without_shares(version: int) -> None:
    message = validate_fund_payload("INVESTMENT_MADE", V1_INVESTMENT, version)
    assert message == events_pb2.InvestmentMade(
        company_id="c1", amount_cents=500, round="Seed", instrument=events_pb2.INSTRUMENT_EQUITY
    )


def test_v1_valuation_reads_with_method_not_recorded() -> None:
    message = validate_fund_payload(
        "VALUATION_UPDATED", {"company_id": "c1", "valuation_cents": 9}, 1
    )
    assert isinstance(message, events_pb2.ValuationUpdated)
    assert message.method == events_pb2.VALUATION_METHOD_UNSPECIFIED


def test_v2_investment_keeps_its_fields() -> None:
    message = validate_new_fund_payload("INVESTMENT_MADE", V2_INVESTMENT, 2)
    assert isinstance(message, events_pb2.InvestmentMade)
    assert (message.instrument, message.shares, message.price_per_share_micros) == (
        events_pb2.INSTRUMENT_SAFE,
        1_000,
        2_500_000,
    )


def test_stored_payloads_are_never_changed_by_upcasting() -> None:
    payload = dict(V1_INVESTMENT)
    upcast("INVESTMENT_MADE", 1, payload)
    assert payload == V1_INVESTMENT


@pytest.mark.parametrize(
    ("event_type", "data", "version", "field"),
    [
        ("INVESTMENT_MADE", V2_INVESTMENT, 3, "schema_version"),
        (
            "FUND_CREATED",
            {"name": "F", "committed_capital_cents": 1, "currency": "USD"},
            2,
            "schema_version",
        ),
        ("INVESTMENT_MADE", {**V1_INVESTMENT, "shares": 5}, 1, "data.shares"),
        (
            "INVESTMENT_MADE",
            {**V1_INVESTMENT, "pricePerShareMicros": 5},
            1,
            "data.pricePerShareMicros",
        ),
        (
            "VALUATION_UPDATED",
            {"company_id": "c", "valuation_cents": 1, "method": "VALUATION_METHOD_EXIT"},
            1,
            "data.method",
        ),
        ("INVESTMENT_MADE", V1_INVESTMENT, 2, "data.instrument"),
        ("INVESTMENT_MADE", {**V2_INVESTMENT, "instrument": "BOND"}, 2, "data.instrument"),
        ("INVESTMENT_MADE", {**V2_INVESTMENT, "instrument": 9}, 2, "data.instrument"),
        (
            "INVESTMENT_MADE",
            {**V2_INVESTMENT, "instrument": "INSTRUMENT_UNSPECIFIED"},
            2,
            "data.instrument",
        ),
        (
            "VALUATION_UPDATED",
            {"company_id": "c", "valuation_cents": 1, "method": 0},
            2,
            "data.method",
        ),
    ],
)
def test_refused_on_append_naming_the_field(
    event_type: str, data: dict[str, object], version: int, field: str
) -> None:
    with pytest.raises(PayloadError) as caught:
        validate_new_fund_payload(event_type, data, version)
    assert caught.value.field == field


def test_fast_and_strict_decoders_agree_on_v1_and_v2() -> None:
    for version, data in ((1, V1_INVESTMENT), (2, V2_INVESTMENT)):
        raw = json.dumps(data).encode()
        fast = decode_stored_event("INVESTMENT_MADE", raw, 3, T0, schema_version=version)
        strict = decode_event("INVESTMENT_MADE", data, 3, T0, schema_version=version)
        assert fast == strict


def test_a_registry_chain_must_be_contiguous() -> None:
    def same(data: object) -> dict[str, object]:
        return dict(data)  # type: ignore[call-overload]

    with pytest.raises(ValueError, match="no upcaster from v1"):
        UpcasterRegistry([Step("X", 2, frozenset(), same)])
    with pytest.raises(ValueError, match="step from v1 is invalid"):
        UpcasterRegistry([Step("X", 1, frozenset(), same), Step("X", 1, frozenset(), same)])
    chain = UpcasterRegistry(
        [
            Step("X", 1, frozenset({"b"}), lambda d: {**d, "b": 1}),
            Step("X", 2, frozenset({"c"}), lambda d: {**d, "c": d["b"]}),
        ]
    )
    assert chain.newest_version("X") == 3
    assert chain.upcast("X", 1, {"a": 0}) == {"a": 0, "b": 1, "c": 1}
    assert chain.upcast("X", 3, {"a": 0}) == {"a": 0}
