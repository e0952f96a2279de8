"""The fund event catalog mirrors events.proto, and its import-time check bites."""

from __future__ import annotations

import pytest
from fundledger.fund.v1 import events_pb2
from fundledger_kernel import catalog
from fundledger_kernel.catalog import (
    FUND_EVENT_TYPES,
    is_fund_event,
    is_required_field,
    required_fields,
)
from google.protobuf import descriptor_pb2, descriptor_pool

EXPECTED = {
    "FUND_CREATED": events_pb2.FundCreated,
    "COMPANY_ADDED": events_pb2.CompanyAdded,
    "INVESTMENT_MADE": events_pb2.InvestmentMade,
    "VALUATION_UPDATED": events_pb2.ValuationUpdated,
    "CAPITAL_CALLED": events_pb2.CapitalCalled,
    "DISTRIBUTION_MADE": events_pb2.DistributionMade,
    "RESERVE_ALLOCATED": events_pb2.ReserveAllocated,
    "FORECAST_CREATED": events_pb2.ForecastCreated,
    "ACTUAL_RECORDED": events_pb2.ActualRecorded,
    "REALLOCATION_COMMITTED": events_pb2.ReallocationCommitted,
    "FILE_ATTACHED": events_pb2.FileAttached,
    "FILE_DETACHED": events_pb2.FileDetached,
}


def test_catalog_maps_each_event_type_to_its_generated_class() -> None:
    assert dict(FUND_EVENT_TYPES) == EXPECTED
    assert list(FUND_EVENT_TYPES) == list(EXPECTED)  # enum order


def test_every_enum_value_but_unspecified_is_in_the_catalog() -> None:
    names = {
        name.removeprefix("FUND_EVENT_TYPE_")
        for name, number in events_pb2.FundEventType.items()
        if number != events_pb2.FUND_EVENT_TYPE_UNSPECIFIED
    }
    assert names == set(FUND_EVENT_TYPES)


def test_catalog_is_read_only() -> None:
    with pytest.raises(TypeError):
        FUND_EVENT_TYPES["X"] = events_pb2.FundCreated  # type: ignore[index]


@pytest.mark.parametrize(
    ("event_type", "expected"),
    [
        ("FUND_CREATED", True),
        ("FILE_DETACHED", True),
        ("UNSPECIFIED", False),
        ("FUND_EVENT_TYPE_FUND_CREATED", False),
        ("fund_created", False),
        ("UserSignedUp", False),
        ("", False),
    ],
)
def test_is_fund_event(event_type: str, expected: bool) -> None:
    assert is_fund_event(event_type) is expected


@pytest.mark.parametrize(
    ("event_type", "expected"),
    [
        ("FUND_CREATED", ("name", "committed_capital_cents", "currency")),
        ("COMPANY_ADDED", ("company_id", "name")),
        ("INVESTMENT_MADE", ("company_id", "amount_cents", "instrument")),
        ("VALUATION_UPDATED", ("company_id", "valuation_cents", "method")),
        ("CAPITAL_CALLED", ("amount_cents",)),
        ("DISTRIBUTION_MADE", ("amount_cents",)),
        ("RESERVE_ALLOCATED", ("company_id", "planned_reserves_cents")),
        ("FORECAST_CREATED", ("company_id", "metric", "period", "amount_cents")),
        ("ACTUAL_RECORDED", ("company_id", "metric", "period", "amount_cents")),
        (
            "REALLOCATION_COMMITTED",
            (
                "baseline_version",
                "new_version",
                "changes[].company_id",
                "changes[].from_cents",
                "changes[].to_cents",
                "changes[].delta_cents",
            ),
        ),
        ("FILE_ATTACHED", ("file_id",)),
        ("FILE_DETACHED", ("file_id",)),
    ],
)
def test_required_fields_follow_the_proto_option(
    event_type: str, expected: tuple[str, ...]
) -> None:
    assert required_fields(FUND_EVENT_TYPES[event_type]) == expected


def test_required_fields_of_a_nested_message_alone() -> None:
    assert required_fields(events_pb2.ReallocationChange) == (
        "company_id",
        "from_cents",
        "to_cents",
        "delta_cents",
    )


def test_is_required_field() -> None:
    fields = events_pb2.InvestmentMade.DESCRIPTOR.fields_by_name
    assert is_required_field(fields["amount_cents"])
    assert not is_required_field(fields["round"])


def _file_with_enum(values: list[str], messages: list[str]) -> descriptor_pb2.FileDescriptorProto:
    proto = descriptor_pb2.FileDescriptorProto(
        name="test/catalog.proto", package="test.catalog", syntax="proto3"
    )
    enum = proto.enum_type.add(name="FundEventType")
    for number, name in enumerate(values):
        enum.value.add(name=name, number=number)
    for name in messages:
        proto.message_type.add(name=name)
    return proto


def test_an_event_type_without_a_message_fails_the_build() -> None:
    pool = descriptor_pool.DescriptorPool()
    file = pool.AddSerializedFile(
        _file_with_enum(
            ["FUND_EVENT_TYPE_UNSPECIFIED", "FUND_EVENT_TYPE_FUND_CREATED", "FUND_EVENT_TYPE_NEW"],
            ["FundCreated"],
        ).SerializeToString()
    )
    with pytest.raises(RuntimeError, match="FUND_EVENT_TYPE_NEW has no message New"):
        catalog._build_catalog(file)


def test_a_consistent_file_builds() -> None:
    pool = descriptor_pool.DescriptorPool()
    file = pool.AddSerializedFile(
        _file_with_enum(
            ["FUND_EVENT_TYPE_UNSPECIFIED", "FUND_EVENT_TYPE_SHARE_CLASS_ADDED"],
            ["ShareClassAdded"],
        ).SerializeToString()
    )
    assert list(catalog._build_catalog(file)) == ["SHARE_CLASS_ADDED"]
