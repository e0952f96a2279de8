"""The fund state the fold computes: frozen values, and the figures derived from them.

Only what events set is stored; everything derivable (uncalled capital, total value, DPI, TVPI,
MOIC, variances) is computed from it on demand. A stored derived figure could go stale or be
restored from a snapshot made by a fold that computed it differently; a computed one cannot.

Money is integer cents (Python ints: exact at any size). Ratios are exact Fractions; see ratio.py
for how they are rendered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from typing import NamedTuple

from fundledger_kernel.fund.frozen_map import FrozenMap
from fundledger_kernel.fund.ratio import ratio, ratio_bps


class MetricKey(NamedTuple):
    """Identifies a forecast or an actual; tuples order by company, then metric, then period."""

    company_id: str
    metric: str
    period: str


@dataclass(frozen=True, slots=True)
class CompanyState:
    """One portfolio company, as far as the fund's events have told us."""

    company_id: str
    # Empty until COMPANY_ADDED names it: other events may arrive first (FM-17).
    name: str = ""
    sector: str = ""
    invested: int = 0
    # The latest valuation of the fund's holding; each VALUATION_UPDATED replaces it.
    valuation: int = 0
    ownership_bps: int = 0
    allocation_cap: int = 0
    # Absolute, as set by RESERVE_ALLOCATED.
    planned_reserves: int = 0
    # Follow-on investments made out of reserves.
    deployed_reserves: int = 0
    distributed: int = 0
    # Of the latest investment (in effective order); fundledger.fund.v1.Instrument numbers.
    instrument: int = 0
    # The sum of the investments' shares.
    shares: int = 0
    # Of the latest investment that gave one, in millionths of the currency unit.
    price_per_share_micros: int = 0
    # Of the latest valuation (in effective order); fundledger.fund.v1.ValuationMethod numbers.
    valuation_method: int = 0
    # Effective time of the latest valuation (UTC); None before any.
    valuation_effective_at: datetime | None = None

    @property
    def moic(self) -> Fraction:
        """Valuation / invested; zero when nothing was invested."""
        return ratio(self.valuation, self.invested)


@dataclass(frozen=True, slots=True)
class MetricVariance:
    """A forecast compared with its actual, for one (company, metric, period)."""

    key: MetricKey
    forecast: int
    actual: int

    @property
    def variance(self) -> int:
        """actual - forecast, in cents."""
        return self.actual - self.forecast

    @property
    def variance_ratio(self) -> Fraction:
        """variance / |forecast|; zero when the forecast is zero.

        Over the magnitude, so that the sign says whether the actual beat the forecast even when
        the forecast is negative (a loss that turned out smaller is a positive variance).
        """
        return ratio(self.variance, abs(self.forecast))

    @property
    def variance_bps(self) -> int:
        """variance * 10000 / |forecast|, rounded half to even; 0 when the forecast is 0."""
        return ratio_bps(self.variance_ratio)


@dataclass(frozen=True, slots=True)
class FundState:
    """A fund at one version of its stream. Build with empty_state; change only with evolve."""

    fund_id: str
    name: str = ""
    currency: str = ""
    vintage_year: int = 0
    committed: int = 0
    called: int = 0
    invested: int = 0
    distributed: int = 0
    companies: FrozenMap[str, CompanyState] = field(default_factory=FrozenMap)
    forecasts: FrozenMap[MetricKey, int] = field(default_factory=FrozenMap)
    actuals: FrozenMap[MetricKey, int] = field(default_factory=FrozenMap)
    # Documents attached and not detached.
    file_ids: frozenset[str] = frozenset()
    # The highest version folded in; 0 before any. Events fold in (effective_at, version)
    # order, so the last one folded is not always the highest.
    version: int = 0
    # The latest recorded_at folded in (in UTC; that of `version`, since recorded times never
    # decrease along a stream), not the wall clock: time travel picks snapshots by it.
    last_event_at: datetime | None = None
    # The latest effective_at folded in (in UTC): a later event effective before it is
    # backdated relative to this state and cannot simply be folded on top (fold_input.py).
    last_effective_at: datetime | None = None
    # Events of types this fold does not know: counted, so that skipping one is visible.
    skipped_events: int = 0

    @property
    def uncalled(self) -> int:
        """committed - called."""
        return self.committed - self.called

    @property
    def total_value(self) -> int:
        """Sum of every company's latest valuation."""
        return sum(company.valuation for company in self.companies.values())

    @property
    def total_planned_reserves(self) -> int:
        """Sum of every company's planned reserves."""
        return sum(company.planned_reserves for company in self.companies.values())

    @property
    def total_deployed_reserves(self) -> int:
        """Sum of every company's deployed reserves."""
        return sum(company.deployed_reserves for company in self.companies.values())

    @property
    def dpi(self) -> Fraction:
        """Distributions to paid-in: distributed / called; zero when nothing was called."""
        return ratio(self.distributed, self.called)

    @property
    def tvpi(self) -> Fraction:
        """Total value to paid-in: (distributed + total value) / called; zero when none called."""
        return ratio(self.distributed + self.total_value, self.called)

    def sorted_companies(self) -> list[CompanyState]:
        """Companies ordered by company id."""
        return [self.companies[company_id] for company_id in sorted(self.companies)]

    def variances(self) -> list[MetricVariance]:
        """Forecast vs actual for every key that has both, ordered by company, metric, period."""
        return [
            MetricVariance(key, self.forecasts[key], self.actuals[key])
            for key in sorted(self.forecasts.keys() & self.actuals.keys())
        ]
