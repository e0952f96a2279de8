"""The demo's late write-down, without servers: which holding, how much, effective when."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from fundledger.fund.v1 import events_pb2 as ev
from fundledger.fund.v1 import state_pb2
from fundledger_cli.demo.restatement import figure
from fundledger_cli.demo.write_down import KEPT_PERCENT, choose_write_down
from fundledger_kernel import validate_fund_payload

Q3 = date(2025, 9, 30)


def _state(*companies: tuple[str, int, int]) -> state_pb2.FundState:
    return state_pb2.FundState(
        companies=[
            state_pb2.CompanyState(
                company_id=company_id,
                name=company_id.title(),
                valuation_cents=cents,
                valuation_method=method,  # type: ignore[arg-type]
            )
            for company_id, cents, method in companies
        ]
    )


def test_the_largest_holding_not_excluded_nor_written_down_is_cut_to_forty_percent() -> None:
    state = _state(
        ("star", 90_000_000_00, ev.VALUATION_METHOD_MARK_TO_MODEL),
        ("sunk", 80_000_000_00, ev.VALUATION_METHOD_WRITE_DOWN),
        ("big", 12_345_678_00, ev.VALUATION_METHOD_MARK_TO_MODEL),
        ("small", 1_000_000_00, ev.VALUATION_METHOD_LAST_ROUND),
    )
    chosen = choose_write_down(state, Q3, exclude={"star"})
    assert (chosen.company_id, chosen.name) == ("big", "Big")
    assert chosen.before_cents == 12_345_678_00
    # 40 % of it, in $10,000 steps: integer cents throughout.
    assert chosen.after_cents == 4_940_000_00
    assert KEPT_PERCENT == 40
    assert chosen.effective_at == datetime(2025, 9, 30, tzinfo=UTC)
    message = validate_fund_payload("VALUATION_UPDATED", chosen.payload(), 2)
    assert message == ev.ValuationUpdated(
        company_id="big", valuation_cents=4_940_000_00, method=ev.VALUATION_METHOD_WRITE_DOWN
    )


def test_ties_go_to_the_lower_company_id_and_nothing_to_cut_is_an_error() -> None:
    state = _state(
        ("b", 5_000_000, ev.VALUATION_METHOD_LAST_ROUND),
        ("a", 5_000_000, ev.VALUATION_METHOD_LAST_ROUND),
    )
    assert choose_write_down(state, Q3).company_id == "a"
    with pytest.raises(ValueError, match="no holding"):
        choose_write_down(_state(("gone", 0, ev.VALUATION_METHOD_EXIT)), Q3)


@pytest.mark.parametrize(
    ("name", "value", "shown"),
    [
        ("total_value_cents", -4_321_000_00, "-$4,321,000"),
        ("tvpi_bps", 13_457, "1.3457x"),
        ("tvpi_bps", -512, "-0.0512x"),
        ("ownership_bps", 1_250, "12.5%"),
        ("shares", 1_234_567, "1,234,567"),
    ],
)
def test_restated_figures_are_shown_in_their_unit(name: str, value: int, shown: str) -> None:
    assert figure(name, value) == shown
