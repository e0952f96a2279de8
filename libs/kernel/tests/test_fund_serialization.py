"""The state's stored form (JSON) and wire form (state.proto)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fundledger.fund.v1 import events_pb2, state_pb2
from fundledger_kernel import canonical_json
from fundledger_kernel.fund import (
    FOLD_VERSION,
    CompanyState,
    FoldVersionMismatchError,
    FrozenMap,
    FundState,
    StateRangeError,
    StoredStateError,
    decode_event,
    empty_state,
    project,
    state_from_json,
    state_to_json,
    state_to_proto,
)

T0 = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)
EVENTS: list[tuple[str, dict[str, Any]]] = [
    ("FUND_CREATED", {"name": "Fund I", "committed_capital_cents": 10**12, "currency": "USD"}),
    (
        "COMPANY_ADDED",
        {"company_id": "b", "name": "Beta", "allocation_cap_cents": 9, "sector": "x"},
    ),
    ("INVESTMENT_MADE", {"company_id": "a", "amount_cents": 2**62, "ownership_bps": 2500}),
    ("INVESTMENT_MADE", {"company_id": "b", "amount_cents": 400, "from_reserves": True}),
    ("VALUATION_UPDATED", {"company_id": "b", "valuation_cents": 1_000}),
    ("CAPITAL_CALLED", {"amount_cents": 1_000_000_00}),
    ("DISTRIBUTION_MADE", {"amount_cents": 425_000_00, "company_id": "b"}),
    ("RESERVE_ALLOCATED", {"company_id": "b", "planned_reserves_cents": 700}),
    ("FORECAST_CREATED", {"company_id": "b", "metric": "rev", "period": "Q2", "amount_cents": 3}),
    ("FORECAST_CREATED", {"company_id": "a", "metric": "rev", "period": "Q1", "amount_cents": 8}),
    ("ACTUAL_RECORDED", {"company_id": "b", "metric": "rev", "period": "Q2", "amount_cents": 4}),
    ("FILE_ATTACHED", {"file_id": "f2"}),
    ("FILE_ATTACHED", {"file_id": "f1"}),
    ("SOMETHING_NEWER", {}),
]


def full_state() -> FundState:
    events = [
        decode_event(event_type, data, version, T0 + timedelta(seconds=version))
        for version, (event_type, data) in enumerate(EVENTS, start=1)
    ]
    return project(empty_state("fund-1"), events)


@pytest.mark.parametrize("state", [empty_state("fund-0"), full_state()], ids=["empty", "full"])
def test_json_round_trip_is_lossless(state: FundState) -> None:
    stored = state_to_json(state)
    assert stored["fold_version"] == FOLD_VERSION
    assert state_from_json(stored) == state
    # Through real JSON text too, as a database row would store it.
    assert state_from_json(json.loads(json.dumps(stored))) == state


def test_json_is_deterministic_and_plain() -> None:
    stored = state_to_json(full_state())
    assert list(stored) == list(state_to_json(full_state()))
    assert canonical_json(stored) == canonical_json(state_to_json(full_state()))
    assert [c["company_id"] for c in stored["companies"]] == ["a", "b"]
    assert [(m["company_id"], m["period"]) for m in stored["forecasts"]] == [
        ("a", "Q1"),
        ("b", "Q2"),
    ]
    assert stored["file_ids"] == ["f1", "f2"]
    assert stored["invested_cents"] == 2**62 + 400
    assert type(stored["invested_cents"]) is int
    assert stored["last_event_at"] == "2026-03-01T09:30:29.123456+00:00"


def test_other_fold_versions_are_refused() -> None:
    stored = state_to_json(full_state())
    for other in (FOLD_VERSION - 1, FOLD_VERSION + 1, None, str(FOLD_VERSION), True):
        with pytest.raises(FoldVersionMismatchError) as caught:
            state_from_json({**stored, "fold_version": other})
        assert caught.value.found == other
    without = {key: value for key, value in stored.items() if key != "fold_version"}
    with pytest.raises(FoldVersionMismatchError):
        state_from_json(without)


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda s: s.pop("called_cents"), "state.called_cents: missing"),
        (lambda s: s.update(called_cents=1.5), "state.called_cents: expected an integer"),
        (lambda s: s.update(version=True), "state.version: expected an integer"),
        (lambda s: s.update(name=7), "state.name: expected a string"),
        (lambda s: s["companies"][1].pop("name"), r"state.companies\[1\].name: missing"),
        (lambda s: s["companies"].append(s["companies"][0]), "appears twice"),
        (lambda s: s["forecasts"].append(s["forecasts"][0]), "appears twice"),
        (lambda s: s.update(file_ids="f1"), "state.file_ids: expected an array"),
        (lambda s: s.update(last_event_at="yesterday"), "not ISO 8601"),
        (lambda s: s.update(last_event_at="2026-03-01T09:30:00"), "no UTC offset"),
    ],
)
def test_malformed_json_is_refused_naming_the_key(change: Any, where: str) -> None:
    stored = json.loads(json.dumps(state_to_json(full_state())))
    change(stored)
    with pytest.raises(StoredStateError, match=where):
        state_from_json(stored)


def test_proto_fills_every_field() -> None:
    state = replace(full_state(), vintage_year=2026, invested=2_000_000_00)
    message = state_to_proto(state)
    # Every singular field is set (non-default) for this state, and every list is non-empty.
    for field in state_pb2.FundState.DESCRIPTOR.fields:
        if field.name == "last_event_at":
            assert message.HasField("last_event_at")
        elif field.is_repeated:
            assert len(getattr(message, field.name)) > 0, field.name
        else:
            assert getattr(message, field.name), field.name
    assert message.fold_version == FOLD_VERSION
    assert (message.dpi, message.dpi_bps) == ("0.4250", 4250)
    assert message.uncalled_cents == 10**12 - 1_000_000_00
    assert message.last_event_at.ToDatetime(tzinfo=UTC) == T0 + timedelta(seconds=14)
    assert [c.company_id for c in message.companies] == ["a", "b"]
    assert [(f.company_id, f.period) for f in message.forecasts] == [("a", "Q1"), ("b", "Q2")]
    assert list(message.file_ids) == ["f1", "f2"]
    assert (message.version, message.skipped_events) == (14, 1)


def test_proto_company_and_variance() -> None:
    message = state_to_proto(full_state())
    beta = message.companies[1]
    assert beta == state_pb2.CompanyState(
        company_id="b",
        name="Beta",
        sector="x",
        invested_cents=400,
        valuation_cents=1_000,
        moic="2.5000",
        moic_bps=25000,
        allocation_cap_cents=9,
        planned_reserves_cents=700,
        deployed_reserves_cents=400,
        distributed_cents=425_000_00,
        instrument=events_pb2.INSTRUMENT_EQUITY,
        valuation_effective_at=beta.valuation_effective_at,
    )
    assert beta.HasField("valuation_effective_at")
    assert list(message.variances) == [
        state_pb2.MetricVariance(
            company_id="b",
            metric="rev",
            period="Q2",
            forecast_cents=3,
            actual_cents=4,
            variance_cents=1,
            variance_bps=3333,
        )
    ]
    assert (message.total_planned_reserves_cents, message.total_deployed_reserves_cents) == (
        700,
        400,
    )


def test_proto_of_the_empty_state() -> None:
    message = state_to_proto(empty_state("fund-0"))
    assert message == state_pb2.FundState(
        fund_id="fund-0", dpi="0.0000", tvpi="0.0000", fold_version=FOLD_VERSION
    )
    assert not message.HasField("last_event_at")


def test_figures_beyond_int64_are_refused_by_name() -> None:
    # Python ints are unbounded, int64 is not: say which figure overflowed, never clamp money.
    one_big = FrozenMap({"a": CompanyState("a", invested=2**63)})
    with pytest.raises(StateRangeError, match=r"companies\['a'\]\.invested_cents"):
        state_to_proto(replace(empty_state("fund-1"), companies=one_big))
    two_large = FrozenMap({c: CompanyState(c, valuation=2**62) for c in ("a", "b")})
    with pytest.raises(StateRangeError, match="total_value_cents"):
        state_to_proto(replace(empty_state("fund-1"), companies=two_large))
    with pytest.raises(StateRangeError, match="dpi_bps"):
        state_to_proto(replace(empty_state("fund-1"), called=1, distributed=2**62))
