"""Fund payload validation: a valid payload per event type, and each kind of refusal."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from fundledger.fund.v1 import events_pb2
from fundledger_kernel.canonical import PayloadError
from fundledger_kernel.catalog import FUND_EVENT_TYPES, required_fields
from fundledger_kernel.fund_schemas import newest_schema_version
from fundledger_kernel.validation import validate_fund_payload

CHANGE = {
    "company_id": "c-1",
    "name": "Acme",
    "from_cents": 100,
    "to_cents": 250,
    "delta_cents": 150,
}

# One full, valid payload per event type, every field set (proto names).
VALID: Mapping[str, dict[str, object]] = {
    "FUND_CREATED": {
        "name": "Fund I",
        "committed_capital_cents": 10_000_000_000,
        "currency": "USD",
        "vintage_year": 2026,
    },
    "COMPANY_ADDED": {
        "company_id": "c-1",
        "name": "Acme",
        "allocation_cap_cents": 500_000_000,
        "sector": "Fintech",
    },
    "INVESTMENT_MADE": {
        "company_id": "c-1",
        "amount_cents": 250_000_000,
        "ownership_bps": 1250,
        "round": "Seed",
        "from_reserves": False,
    },
    "VALUATION_UPDATED": {"company_id": "c-1", "valuation_cents": 900_000_000},
    "CAPITAL_CALLED": {"amount_cents": 1_000_000_000, "call_number": 1},
    "DISTRIBUTION_MADE": {"amount_cents": 300_000_000, "company_id": "c-1"},
    "RESERVE_ALLOCATED": {"company_id": "c-1", "planned_reserves_cents": 400_000_000},
    "FORECAST_CREATED": {
        "company_id": "c-1",
        "metric": "revenue",
        "period": "2027-Q1",
        "amount_cents": 12_345,
    },
    "ACTUAL_RECORDED": {
        "company_id": "c-1",
        "metric": "revenue",
        "period": "2027-Q1",
        "amount_cents": 11_000,
    },
    "REALLOCATION_COMMITTED": {
        "baseline_version": 7,
        "new_version": 9,
        "changes": [CHANGE, {**CHANGE, "company_id": "c-2", "to_cents": 0, "delta_cents": -100}],
        "reason": "follow-on",
        "user_id": "u-1",
        "total_before_cents": 200,
        "total_after_cents": 250,
    },
    "FILE_ATTACHED": {
        "file_id": "f-1",
        "file_name": "deck.pdf",
        "content_type": "application/pdf",
        "size_bytes": 123_456,
        "sha256": "ab" * 32,
        "object_key": "users/u-1/funds/fund-1/f-1.pdf",
        "company_id": "c-1",
    },
    "FILE_DETACHED": {"file_id": "f-1"},
}


def test_every_event_type_has_a_valid_payload_here() -> None:
    # A new event type in the proto fails this until it gets a happy-path case.
    assert set(VALID) == set(FUND_EVENT_TYPES)


@pytest.mark.parametrize("event_type", list(VALID))
def test_valid_payload_gives_its_message(event_type: str) -> None:
    message = validate_fund_payload(event_type, VALID[event_type])
    assert type(message) is FUND_EVENT_TYPES[event_type]
    for name, value in VALID[event_type].items():
        if name != "changes":
            assert getattr(message, name) == value


# What schema version 2 requires beyond VALID's version-1 payloads.
NEWEST_ONLY: Mapping[str, dict[str, object]] = {
    "INVESTMENT_MADE": {"instrument": "INSTRUMENT_SAFE"},
    "VALUATION_UPDATED": {"method": "VALUATION_METHOD_MARK_TO_MODEL"},
}


@pytest.mark.parametrize("event_type", list(VALID))
def test_only_required_fields_are_enough(event_type: str) -> None:
    message_type = FUND_EVENT_TYPES[event_type]
    top_level = [name for name in required_fields(message_type) if "." not in name]
    newest = {**VALID[event_type], **NEWEST_ONLY.get(event_type, {})}
    minimal = {name: newest[name] for name in top_level}
    version = newest_schema_version(event_type)
    assert type(validate_fund_payload(event_type, minimal, version)) is message_type


def test_reallocation_changes_are_parsed() -> None:
    message = validate_fund_payload("REALLOCATION_COMMITTED", VALID["REALLOCATION_COMMITTED"])
    assert isinstance(message, events_pb2.ReallocationCommitted)
    assert [(c.company_id, c.delta_cents) for c in message.changes] == [("c-1", 150), ("c-2", -100)]


def test_json_names_are_accepted() -> None:
    message = validate_fund_payload(
        "FUND_CREATED",
        {"name": "F", "committedCapitalCents": 5, "currency": "EUR", "vintageYear": 1},
    )
    assert isinstance(message, events_pb2.FundCreated)
    assert (message.committed_capital_cents, message.vintage_year) == (5, 1)


def test_negative_amounts_are_not_a_schema_error() -> None:
    message = validate_fund_payload("CAPITAL_CALLED", {"amount_cents": -1})
    assert isinstance(message, events_pb2.CapitalCalled)
    assert message.amount_cents == -1


def test_zero_and_empty_values_count_as_present() -> None:
    # `required` means present in the payload; whether 0 or "" makes sense is a business rule.
    message = validate_fund_payload("INVESTMENT_MADE", {"company_id": "", "amount_cents": 0})
    assert isinstance(message, events_pb2.InvestmentMade)


def test_null_optional_field_is_unset() -> None:
    message = validate_fund_payload("INVESTMENT_MADE", {**VALID["INVESTMENT_MADE"], "round": None})
    assert isinstance(message, events_pb2.InvestmentMade)
    assert message.round == ""


def test_int64_bounds_are_accepted() -> None:
    for amount in (2**63 - 1, -(2**63)):
        message = validate_fund_payload("CAPITAL_CALLED", {"amount_cents": amount})
        assert isinstance(message, events_pb2.CapitalCalled)
        assert message.amount_cents == amount


def refusal(event_type: str, data: Mapping[str, object]) -> str:
    with pytest.raises(PayloadError) as caught:
        validate_fund_payload(event_type, data)
    assert str(caught.value) == f"{caught.value.field}: {caught.value.message}"
    return str(caught.value)


INVESTMENT = VALID["INVESTMENT_MADE"]
REALLOCATION = VALID["REALLOCATION_COMMITTED"]


@pytest.mark.parametrize(
    ("event_type", "data", "expected"),
    [
        # unknown fields
        (
            "INVESTMENT_MADE",
            {**INVESTMENT, "bogus": 1},
            "data.bogus: unknown field for INVESTMENT_MADE",
        ),
        (
            "INVESTMENT_MADE",
            {**INVESTMENT, "amount": 1},
            "data.amount: unknown field for INVESTMENT_MADE",
        ),
        (
            "INVESTMENT_MADE",
            {**INVESTMENT, "odd key": 1},
            'data["odd key"]: unknown field for INVESTMENT_MADE',
        ),
        (
            "REALLOCATION_COMMITTED",
            {**REALLOCATION, "changes": [CHANGE, {**CHANGE, "extra": True}]},
            "data.changes[1].extra: unknown field for ReallocationChange",
        ),
        # the same field under both of its names
        (
            "INVESTMENT_MADE",
            {**INVESTMENT, "amountCents": 5},
            "data.amount_cents: same field as amountCents; give it only once",
        ),
        # missing or null required fields
        (
            "INVESTMENT_MADE",
            {"company_id": "c-1"},
            "data.amount_cents: required field is missing",
        ),
        (
            "INVESTMENT_MADE",
            {"company_id": "c-1", "amount_cents": None},
            "data.amount_cents: required field is missing",
        ),
        (
            "INVESTMENT_MADE",
            {"company_id": "c-1", "amountCents": None},
            "data.amountCents: required field is missing",
        ),
        ("FUND_CREATED", {}, "data.name: required field is missing"),
        (
            "REALLOCATION_COMMITTED",
            {**REALLOCATION, "changes": [CHANGE, {"company_id": "c-2", "from_cents": 1}]},
            "data.changes[1].to_cents: required field is missing",
        ),
        # floats where integers are expected
        (
            "INVESTMENT_MADE",
            {**INVESTMENT, "amount_cents": 10.5},
            "data.amount_cents: must be an integer number of cents, got 10.5",
        ),
        (
            "INVESTMENT_MADE",
            {**INVESTMENT, "amount_cents": 100.0},
            "data.amount_cents: must be an integer number of cents, got 100.0",
        ),
        (
            "INVESTMENT_MADE",
            {**INVESTMENT, "ownership_bps": 12.5},
            "data.ownership_bps: must be an integer number of basis points, got 12.5",
        ),
        (
            "FUND_CREATED",
            {**VALID["FUND_CREATED"], "vintage_year": 2026.0},
            "data.vintage_year: must be an integer, got 2026.0",
        ),
        (
            "REALLOCATION_COMMITTED",
            {**REALLOCATION, "changes": [CHANGE, {**CHANGE, "to_cents": 2.5}]},
            "data.changes[1].to_cents: must be an integer number of cents, got 2.5",
        ),
        # strings (and other types) where integers are expected
        (
            "INVESTMENT_MADE",
            {**INVESTMENT, "amount_cents": "12.5"},
            'data.amount_cents: must be an integer number of cents, got the string "12.5"',
        ),
        (
            "INVESTMENT_MADE",
            {**INVESTMENT, "amount_cents": True},
            "data.amount_cents: must be an integer number of cents, got true",
        ),
        (
            "INVESTMENT_MADE",
            {**INVESTMENT, "amount_cents": [1]},
            "data.amount_cents: must be an integer number of cents, got an array",
        ),
        # other wrong types
        (
            "INVESTMENT_MADE",
            {**INVESTMENT, "company_id": 42},
            "data.company_id: must be a string, got 42",
        ),
        (
            "INVESTMENT_MADE",
            {**INVESTMENT, "from_reserves": "yes"},
            'data.from_reserves: must be true or false, got the string "yes"',
        ),
        (
            "INVESTMENT_MADE",
            {**INVESTMENT, "from_reserves": 1},
            "data.from_reserves: must be true or false, got 1",
        ),
        (
            "REALLOCATION_COMMITTED",
            {**REALLOCATION, "changes": {"company_id": "c-1"}},
            "data.changes: must be a JSON array, got an object",
        ),
        (
            "REALLOCATION_COMMITTED",
            {**REALLOCATION, "changes": [CHANGE, "c-2"]},
            'data.changes[1]: must be a JSON object, got the string "c-2"',
        ),
        (
            "REALLOCATION_COMMITTED",
            {**REALLOCATION, "changes": [None]},
            "data.changes[0]: must not be null",
        ),
        # integers out of range
        (
            "INVESTMENT_MADE",
            {**INVESTMENT, "amount_cents": 2**63},
            "data.amount_cents: is out of range for int64"
            " (-9223372036854775808 to 9223372036854775807), got 9223372036854775808",
        ),
        (
            "INVESTMENT_MADE",
            {**INVESTMENT, "amount_cents": -(2**63) - 1},
            "data.amount_cents: is out of range for int64"
            " (-9223372036854775808 to 9223372036854775807), got -9223372036854775809",
        ),
        (
            "INVESTMENT_MADE",
            {**INVESTMENT, "ownership_bps": 2**31},
            "data.ownership_bps: is out of range for int32"
            " (-2147483648 to 2147483647), got 2147483648",
        ),
        # not a fund event type at all
        (
            "FUND_EVENT_TYPE_FUND_CREATED",
            {},
            'event_type: "FUND_EVENT_TYPE_FUND_CREATED" is not a fund event type',
        ),
    ],
)
def test_refusals_name_the_field(
    event_type: str, data: Mapping[str, object], expected: str
) -> None:
    assert refusal(event_type, data) == expected


def test_error_does_not_depend_on_key_order() -> None:
    data = {"zzz": 1, "amount_cents": 1.5, "company_id": 3, "aaa": 2}
    reordered = dict(reversed(list(data.items())))
    assert refusal("INVESTMENT_MADE", data) == refusal("INVESTMENT_MADE", reordered)
    assert refusal("INVESTMENT_MADE", data) == "data.aaa: unknown field for INVESTMENT_MADE"


def test_refusal_carries_field_and_message_separately() -> None:
    with pytest.raises(PayloadError) as caught:
        validate_fund_payload("INVESTMENT_MADE", {"company_id": "c", "amount_cents": 10.5})
    assert caught.value.field == "data.amount_cents"
    assert caught.value.message == "must be an integer number of cents, got 10.5"


def test_int64_as_a_decimal_string_is_accepted_as_proto3_json_writes_it() -> None:
    message = validate_fund_payload("INVESTMENT_MADE", {**INVESTMENT, "amount_cents": "123"})
    assert message.amount_cents == 123  # type: ignore[attr-defined]
    for bad in ("1e3", "12.0", " 12", "0x10", "", "+5", "007"):
        with pytest.raises(PayloadError):
            validate_fund_payload("INVESTMENT_MADE", {**INVESTMENT, "amount_cents": bad})


def test_new_event_amounts_bounded_so_sums_stay_representable() -> None:
    from fundledger_kernel.validation import MAX_AMOUNT_CENTS, validate_new_fund_payload

    at_bound = {**INVESTMENT, "amount_cents": MAX_AMOUNT_CENTS}
    assert validate_new_fund_payload("INVESTMENT_MADE", at_bound).amount_cents == MAX_AMOUNT_CENTS
    assert validate_new_fund_payload(
        "INVESTMENT_MADE", {**INVESTMENT, "amount_cents": -MAX_AMOUNT_CENTS}
    )
    for amount in (MAX_AMOUNT_CENTS + 1, -MAX_AMOUNT_CENTS - 1, 2**63 - 1):
        with pytest.raises(PayloadError) as caught:
            validate_new_fund_payload("INVESTMENT_MADE", {**INVESTMENT, "amount_cents": amount})
        assert caught.value.field == "data.amount_cents"
        assert "largest amount" in caught.value.message
    # Stored events are read as they are: the bound is for appends only.
    assert validate_fund_payload("INVESTMENT_MADE", {**INVESTMENT, "amount_cents": 2**63 - 1})


def test_new_event_amount_bound_reaches_nested_lists() -> None:
    from fundledger_kernel.validation import MAX_AMOUNT_CENTS, validate_new_fund_payload

    big = {**CHANGE, "company_id": "c-2", "to_cents": MAX_AMOUNT_CENTS + 1}
    with pytest.raises(PayloadError) as caught:
        validate_new_fund_payload(
            "REALLOCATION_COMMITTED", {**REALLOCATION, "changes": [CHANGE, big]}
        )
    assert caught.value.field == "data.changes[1].to_cents"
