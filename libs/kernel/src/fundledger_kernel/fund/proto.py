"""The fund state on the wire: fundledger.fund.v1.FundState (state.proto).

One mapper for every service that returns a fund state (projector, snapshotter), so the derived
figures are computed and rendered in one place. Every list is in the order state.proto promises
(companies by id; metrics by company, metric, period; file ids sorted), so equal states give
byte-identical messages.

Python ints have no upper bound, protobuf's int64 does: a sum of many int64 amounts can exceed it.
No real fund gets near 2**63 cents (about 92 quadrillion units), so reaching it means corrupt or
hostile input; the mapper then raises StateRangeError naming the field, rather than letting
protobuf fail without saying which figure, or clamping money into a false value.
"""

from __future__ import annotations

from datetime import datetime

from fundledger.fund.v1 import state_pb2
from google.protobuf.timestamp_pb2 import Timestamp

from fundledger_kernel.fund.fold import FOLD_VERSION
from fundledger_kernel.fund.frozen_map import FrozenMap
from fundledger_kernel.fund.ratio import ratio_bps, ratio_text
from fundledger_kernel.fund.state import CompanyState, FundState, MetricKey, MetricVariance

_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)


class StateRangeError(ValueError):
    """A figure of the state does not fit its protobuf field."""


def _int64(value: int, field: str) -> int:
    return _fit(value, field, _INT64, "int64")


def _int32(value: int, field: str) -> int:
    return _fit(value, field, _INT32, "int32")


def _fit(value: int, field: str, bounds: tuple[int, int], kind: str) -> int:
    low, high = bounds
    if not low <= value <= high:
        raise StateRangeError(f"{field} = {value} does not fit in {kind}")
    return value


def state_to_proto(state: FundState) -> state_pb2.FundState:
    """The wire form of `state`, every field of state.proto filled, fold_version = FOLD_VERSION."""
    dpi, tvpi = state.dpi, state.tvpi
    message = state_pb2.FundState(
        fund_id=state.fund_id,
        name=state.name,
        currency=state.currency,
        vintage_year=_int32(state.vintage_year, "vintage_year"),
        committed_cents=_int64(state.committed, "committed_cents"),
        called_cents=_int64(state.called, "called_cents"),
        uncalled_cents=_int64(state.uncalled, "uncalled_cents"),
        invested_cents=_int64(state.invested, "invested_cents"),
        distributed_cents=_int64(state.distributed, "distributed_cents"),
        total_value_cents=_int64(state.total_value, "total_value_cents"),
        dpi=ratio_text(dpi),
        dpi_bps=_int64(ratio_bps(dpi), "dpi_bps"),
        tvpi=ratio_text(tvpi),
        tvpi_bps=_int64(ratio_bps(tvpi), "tvpi_bps"),
        total_planned_reserves_cents=_int64(
            state.total_planned_reserves, "total_planned_reserves_cents"
        ),
        total_deployed_reserves_cents=_int64(
            state.total_deployed_reserves, "total_deployed_reserves_cents"
        ),
        companies=[_company(company) for company in state.sorted_companies()],
        forecasts=_metrics(state.forecasts, "forecasts"),
        actuals=_metrics(state.actuals, "actuals"),
        variances=[_variance(variance) for variance in state.variances()],
        version=_int64(state.version, "version"),
        skipped_events=_int64(state.skipped_events, "skipped_events"),
        fold_version=FOLD_VERSION,
        file_ids=sorted(state.file_ids),
    )
    # Left unset before the first event: there is no event time to report.
    _set_time(message.last_event_at, state.last_event_at)
    _set_time(message.last_effective_at, state.last_effective_at)
    return message


def _set_time(field: Timestamp, moment: datetime | None) -> None:
    if moment is not None:
        field.FromDatetime(moment)


def _company(company: CompanyState) -> state_pb2.CompanyState:
    where = f"companies[{company.company_id!r}]"
    moic = company.moic
    message = state_pb2.CompanyState(
        company_id=company.company_id,
        name=company.name,
        sector=company.sector,
        invested_cents=_int64(company.invested, f"{where}.invested_cents"),
        valuation_cents=_int64(company.valuation, f"{where}.valuation_cents"),
        ownership_bps=_int32(company.ownership_bps, f"{where}.ownership_bps"),
        moic=ratio_text(moic),
        moic_bps=_int64(ratio_bps(moic), f"{where}.moic_bps"),
        allocation_cap_cents=_int64(company.allocation_cap, f"{where}.allocation_cap_cents"),
        planned_reserves_cents=_int64(company.planned_reserves, f"{where}.planned_reserves_cents"),
        deployed_reserves_cents=_int64(
            company.deployed_reserves, f"{where}.deployed_reserves_cents"
        ),
        distributed_cents=_int64(company.distributed, f"{where}.distributed_cents"),
        # Enum numbers the fold copied from validated payloads: always defined values.
        instrument=company.instrument,  # type: ignore[arg-type]
        shares=_int64(company.shares, f"{where}.shares"),
        price_per_share_micros=_int64(
            company.price_per_share_micros, f"{where}.price_per_share_micros"
        ),
        valuation_method=company.valuation_method,  # type: ignore[arg-type]
    )
    _set_time(message.valuation_effective_at, company.valuation_effective_at)
    return message


def _metrics(values: FrozenMap[MetricKey, int], field: str) -> list[state_pb2.MetricValue]:
    return [
        state_pb2.MetricValue(
            company_id=key.company_id,
            metric=key.metric,
            period=key.period,
            amount_cents=_int64(values[key], f"{field}{tuple(key)!r}.amount_cents"),
        )
        for key in sorted(values)
    ]


def _variance(variance: MetricVariance) -> state_pb2.MetricVariance:
    key = variance.key
    where = f"variances{tuple(key)!r}"
    return state_pb2.MetricVariance(
        company_id=key.company_id,
        metric=key.metric,
        period=key.period,
        forecast_cents=_int64(variance.forecast, f"{where}.forecast_cents"),
        actual_cents=_int64(variance.actual, f"{where}.actual_cents"),
        variance_cents=_int64(variance.variance, f"{where}.variance_cents"),
        variance_bps=_int64(variance.variance_bps, f"{where}.variance_bps"),
    )
