"""Derived figures: exact values, one half-even rounding, zero denominators, huge amounts."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import pytest
from fundledger_kernel.fund import (
    CompanyState,
    FrozenMap,
    FundState,
    MetricKey,
    empty_state,
    ratio,
    ratio_bps,
    ratio_text,
)


def fund(called: int, distributed: int, *valuations: int) -> FundState:
    companies = {
        f"c{i}": CompanyState(f"c{i}", valuation=value) for i, value in enumerate(valuations)
    }
    return replace(
        empty_state("fund-1"),
        called=called,
        distributed=distributed,
        companies=FrozenMap(companies),
    )


def test_dpi_of_the_issue_example() -> None:
    state = fund(1_000_000_00, 425_000_00)  # 425,000.00 over 1,000,000.00
    assert state.dpi == Fraction(17, 40)
    assert (ratio_text(state.dpi), ratio_bps(state.dpi)) == ("0.4250", 4250)


def test_tvpi_adds_total_value_to_distributions() -> None:
    state = fund(1_000_000_00, 425_000_00, 700_000_00, 125_000_00)
    assert state.total_value == 825_000_00
    assert (ratio_text(state.tvpi), ratio_bps(state.tvpi)) == ("1.2500", 12500)


@pytest.mark.parametrize(
    ("numerator", "denominator", "text", "bps"),
    [
        (24_691, 20_000, "1.2346", 12346),  # 1.23455: a tie, rounded up to the even 6
        (24_689, 20_000, "1.2344", 12344),  # 1.23445: a tie, rounded down to the even 4
        (24_689_001, 20_000_000, "1.2345", 12345),  # 1.23445005: just above the tie
        (1, 20_000, "0.0000", 0),  # 0.00005: tie, down to 0
        (3, 20_000, "0.0002", 2),  # 0.00015: tie, up to 2
        (-5, 20_000, "-0.0002", -2),  # -0.00025: ties go to even on the negative side too
        (1, 3, "0.3333", 3333),
        (2, 3, "0.6667", 6667),
        (7, 1, "7.0000", 70000),
    ],
)
def test_rendering_rounds_half_even(numerator: int, denominator: int, text: str, bps: int) -> None:
    value = ratio(numerator, denominator)
    assert value == Fraction(numerator, denominator)
    assert (ratio_text(value), ratio_bps(value)) == (text, bps)


def test_zero_denominators_render_as_zero() -> None:
    state = fund(0, 500, 1_000)
    assert (ratio_text(state.dpi), ratio_bps(state.dpi)) == ("0.0000", 0)
    assert (ratio_text(state.tvpi), ratio_bps(state.tvpi)) == ("0.0000", 0)
    assert CompanyState("c", valuation=100).moic == 0  # nothing invested


def test_moic_per_company() -> None:
    company = CompanyState("c", invested=400_00, valuation=1_000_00)
    assert company.moic == Fraction(5, 2)
    assert (ratio_text(company.moic), ratio_bps(company.moic)) == ("2.5000", 25000)


def test_huge_amounts_stay_exact() -> None:
    # Near 2**62 cents a binary fraction has lost the units digit; a Fraction has not.
    unit = 2**47
    company = CompanyState("c", invested=20_000 * unit, valuation=24_691 * unit)
    assert company.invested > 2**61
    assert (ratio_text(company.moic), ratio_bps(company.moic)) == ("1.2346", 12346)

    state = fund(2**62, 2**62 + 1, 2**62, 2**62 + 3)
    assert state.total_value == 2**63 + 3  # past int64, still exact
    assert state.tvpi == Fraction(3 * 2**62 + 4, 2**62)
    assert ratio_bps(state.dpi) == 10000  # 1 + 2**-62, rounded
    assert ratio_text(Fraction(10**30 + 1, 10**4)) == "100000000000000000000000000.0001"


def test_uncalled() -> None:
    state = replace(fund(300, 0), committed=1_000)
    assert state.uncalled == 700


def test_variances_where_forecast_and_actual_both_exist() -> None:
    k_up, k_loss, k_zero, k_third, k_only_forecast, k_only_actual = (
        MetricKey("c1", "revenue", "2027-Q1"),
        MetricKey("c1", "ebitda", "2027-Q1"),
        MetricKey("c2", "revenue", "2027-Q1"),
        MetricKey("c2", "revenue", "2027-Q2"),
        MetricKey("c3", "revenue", "2027-Q1"),
        MetricKey("c0", "revenue", "2027-Q1"),
    )
    forecasts = {k_up: 1_000, k_loss: -1_000, k_zero: 0, k_third: 3, k_only_forecast: 5}
    actuals = {k_up: 1_500, k_loss: -500, k_zero: 40, k_third: 4, k_only_actual: 6}
    state = replace(
        empty_state("fund-1"), forecasts=FrozenMap(forecasts), actuals=FrozenMap(actuals)
    )
    rows = [(v.key, v.forecast, v.actual, v.variance, v.variance_bps) for v in state.variances()]
    assert rows == [
        (k_loss, -1_000, -500, 500, 5000),  # a smaller loss than forecast: positive
        (k_up, 1_000, 1_500, 500, 5000),
        (k_zero, 0, 40, 40, 0),  # zero forecast: no ratio
        (k_third, 3, 4, 1, 3333),
    ]


def test_variance_bps_rounds_half_even() -> None:
    key = MetricKey("c", "m", "p")
    for actual, bps in [(20_001, 0), (20_003, 2), (20_005, 2), (19_999, 0), (19_997, -2)]:
        state = replace(
            empty_state("fund-1"),
            forecasts=FrozenMap({key: 20_000}),
            actuals=FrozenMap({key: actual}),
        )
        assert state.variances()[0].variance_bps == bps, actual
