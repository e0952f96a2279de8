"""What each fund event type does to the state: one small function per type.

After pyeventsourcing's functional example (examples/aggregate7): each function takes the state
and the event's payload and returns a new state; none mutates anything. `HANDLERS` is the dispatch
table the fold uses; an event type missing from it is skipped and counted by the fold.

Events about a company the state has not seen yet create that company (FM-17): the event
store accepts INVESTMENT_MADE before COMPANY_ADDED, and dropping it would lose money from every
total. The later COMPANY_ADDED names the company and keeps what it already holds.

Amounts are added as they come, whatever their sign: the fold records what happened, and rules
such as "no negative investments" belong to the services that accept commands.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from types import MappingProxyType
from typing import TypeVar

from fundledger.fund.v1 import events_pb2 as ev
from google.protobuf.message import Message

from fundledger_kernel.fund.frozen_map import FrozenMap
from fundledger_kernel.fund.state import CompanyState, FundState, MetricKey

M = TypeVar("M", bound=Message)
Handler = Callable[[FundState, Message, datetime], FundState]
"""handler(state, payload, effective_at in UTC) -> state."""

_handlers: dict[str, Handler] = {}


def _on(
    event_type: str, message_type: type[M]
) -> Callable[[Callable[[FundState, M], FundState]], Callable[[FundState, M], FundState]]:
    """Register the decorated function as the handler of `event_type` (payload `message_type`)."""

    def register(
        function: Callable[[FundState, M], FundState],
    ) -> Callable[[FundState, M], FundState]:
        _on_timed(event_type, message_type)(lambda state, data, _at: function(state, data))
        return function

    return register


def _on_timed(
    event_type: str, message_type: type[M]
) -> Callable[[Callable[[FundState, M, datetime], FundState]], object]:
    """As _on, for a handler that also needs the event's effective time."""

    def register(function: Callable[[FundState, M, datetime], FundState]) -> object:
        def handler(state: FundState, data: Message, at: datetime) -> FundState:
            # FundEvent already guarantees the payload type; this keeps the narrowing honest.
            if not isinstance(data, message_type):
                raise TypeError(f"{event_type} needs {message_type.__name__}, got {data!r}")
            return function(state, data, at)

        _handlers[event_type] = handler
        return function

    return register


def _company(state: FundState, company_id: str) -> CompanyState:
    """The company, or a new empty one when the state has not seen it yet."""
    company = state.companies.get(company_id)
    return CompanyState(company_id) if company is None else company


def _put(state: FundState, company: CompanyState) -> FundState:
    return replace(state, companies=_with(state, company))


def _with(state: FundState, company: CompanyState) -> FrozenMap[str, CompanyState]:
    """The state's companies with `company` put in (for one copy of the state per event)."""
    return state.companies.with_item(company.company_id, company)


@_on("FUND_CREATED", ev.FundCreated)
def fund_created(state: FundState, data: ev.FundCreated) -> FundState:
    return replace(
        state,
        name=data.name,
        currency=data.currency,
        vintage_year=data.vintage_year,
        committed=data.committed_capital_cents,
    )


@_on("COMPANY_ADDED", ev.CompanyAdded)
def company_added(state: FundState, data: ev.CompanyAdded) -> FundState:
    # replace() keeps invested, valuation, reserves ... of a company created by earlier events.
    company = _company(state, data.company_id)
    return _put(
        state,
        replace(
            company, name=data.name, sector=data.sector, allocation_cap=data.allocation_cap_cents
        ),
    )


@_on("INVESTMENT_MADE", ev.InvestmentMade)
def investment_made(state: FundState, data: ev.InvestmentMade) -> FundState:
    amount = data.amount_cents
    company = _company(state, data.company_id)
    company = replace(
        company,
        invested=company.invested + amount,
        # proto3 cannot tell 0 from "not given"; 0 % after an investment is never meant, so 0
        # keeps the ownership an earlier round set.
        ownership_bps=data.ownership_bps or company.ownership_bps,
        deployed_reserves=company.deployed_reserves + (amount if data.from_reserves else 0),
        instrument=data.instrument,
        shares=company.shares + data.shares,
        # 0 is "not given" (a SAFE has no price): keep the last priced round's.
        price_per_share_micros=data.price_per_share_micros or company.price_per_share_micros,
    )
    return replace(state, companies=_with(state, company), invested=state.invested + amount)


@_on_timed("VALUATION_UPDATED", ev.ValuationUpdated)
def valuation_updated(state: FundState, data: ev.ValuationUpdated, at: datetime) -> FundState:
    # The fold runs in effective order, so the last one applied is the latest effective mark.
    company = _company(state, data.company_id)
    return _put(
        state,
        replace(
            company,
            valuation=data.valuation_cents,
            valuation_method=data.method,
            valuation_effective_at=at,
        ),
    )


@_on("CAPITAL_CALLED", ev.CapitalCalled)
def capital_called(state: FundState, data: ev.CapitalCalled) -> FundState:
    return replace(state, called=state.called + data.amount_cents)


@_on("DISTRIBUTION_MADE", ev.DistributionMade)
def distribution_made(state: FundState, data: ev.DistributionMade) -> FundState:
    amount = data.amount_cents
    distributed = state.distributed + amount
    if not data.company_id:  # a distribution not attributed to one company
        return replace(state, distributed=distributed)
    company = _company(state, data.company_id)
    company = replace(company, distributed=company.distributed + amount)
    return replace(state, distributed=distributed, companies=_with(state, company))


@_on("RESERVE_ALLOCATED", ev.ReserveAllocated)
def reserve_allocated(state: FundState, data: ev.ReserveAllocated) -> FundState:
    company = _company(state, data.company_id)
    return _put(state, replace(company, planned_reserves=data.planned_reserves_cents))


@_on("FORECAST_CREATED", ev.ForecastCreated)
def forecast_created(state: FundState, data: ev.ForecastCreated) -> FundState:
    key = MetricKey(data.company_id, data.metric, data.period)
    return replace(
        state,
        companies=_with(state, _company(state, data.company_id)),
        forecasts=state.forecasts.with_item(key, data.amount_cents),
    )


@_on("ACTUAL_RECORDED", ev.ActualRecorded)
def actual_recorded(state: FundState, data: ev.ActualRecorded) -> FundState:
    key = MetricKey(data.company_id, data.metric, data.period)
    return replace(
        state,
        companies=_with(state, _company(state, data.company_id)),
        actuals=state.actuals.with_item(key, data.amount_cents),
    )


@_on("REALLOCATION_COMMITTED", ev.ReallocationCommitted)
def reallocation_committed(state: FundState, data: ev.ReallocationCommitted) -> FundState:
    # The audit record only: the RESERVE_ALLOCATED events of the same commit carry the changes,
    # so applying its deltas here would count every reallocation twice.
    return state


@_on("FILE_ATTACHED", ev.FileAttached)
def file_attached(state: FundState, data: ev.FileAttached) -> FundState:
    # A company_id here does not create the company: the state keeps file ids only, not which
    # company a document concerns, so nothing is lost, and a document uploaded for a company id
    # must not conjure up an unnamed company in the portfolio and in reserve allocation.
    return replace(state, file_ids=state.file_ids | {data.file_id})


@_on("FILE_DETACHED", ev.FileDetached)
def file_detached(state: FundState, data: ev.FileDetached) -> FundState:
    return replace(state, file_ids=state.file_ids - {data.file_id})


HANDLERS: Mapping[str, Handler] = MappingProxyType(_handlers)
"""Event type -> handler(state, payload) -> state. Read-only: the fold's meaning is fixed."""
