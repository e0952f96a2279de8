"""The fund state as JSON, for storage: projector rows and snapshots.

Lossless: `state_from_json(state_to_json(s)) == s` for every state. Money stays JSON integers
(PostgreSQL jsonb keeps them exact at any size), the time is ISO 8601 with its offset, and
collections are lists in key order, so the same state always gives the same JSON (and, through
canonical_json, the same bytes). Derived figures are not stored: they are recomputed on read, so
they can never disagree with the amounts they come from.

The JSON carries the fold version that produced it. Reading JSON from another fold version raises
FoldVersionMismatchError instead of guessing (FM-11): the caller rebuilds from the log.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from fundledger_kernel.fund.fold import FOLD_VERSION
from fundledger_kernel.fund.frozen_map import FrozenMap
from fundledger_kernel.fund.json_reader import JsonObject, StoredStateError, read_object
from fundledger_kernel.fund.state import CompanyState, FundState, MetricKey


class FoldVersionMismatchError(StoredStateError):
    """Stored state made by another fold version; it must be rebuilt, never read as this one's."""

    def __init__(self, found: object) -> None:
        super().__init__(f"stored state has fold_version {found!r}, this fold is {FOLD_VERSION}")
        self.found = found


def state_to_json(state: FundState) -> dict[str, Any]:
    """The state as a JSON-ready dict (only dicts, lists, str, int and None)."""
    return {
        "fold_version": FOLD_VERSION,
        "fund_id": state.fund_id,
        "name": state.name,
        "currency": state.currency,
        "vintage_year": state.vintage_year,
        "committed_cents": state.committed,
        "called_cents": state.called,
        "invested_cents": state.invested,
        "distributed_cents": state.distributed,
        "companies": [_company_to_json(company) for company in state.sorted_companies()],
        "forecasts": _metrics_to_json(state.forecasts),
        "actuals": _metrics_to_json(state.actuals),
        "file_ids": sorted(state.file_ids),
        "version": state.version,
        "last_event_at": _time(state.last_event_at),
        "last_effective_at": _time(state.last_effective_at),
        "skipped_events": state.skipped_events,
    }


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _company_to_json(company: CompanyState) -> dict[str, Any]:
    return {
        "company_id": company.company_id,
        "name": company.name,
        "sector": company.sector,
        "invested_cents": company.invested,
        "valuation_cents": company.valuation,
        "ownership_bps": company.ownership_bps,
        "allocation_cap_cents": company.allocation_cap,
        "planned_reserves_cents": company.planned_reserves,
        "deployed_reserves_cents": company.deployed_reserves,
        "distributed_cents": company.distributed,
        "instrument": company.instrument,
        "shares": company.shares,
        "price_per_share_micros": company.price_per_share_micros,
        "valuation_method": company.valuation_method,
        "valuation_effective_at": _time(company.valuation_effective_at),
    }


def _metrics_to_json(values: FrozenMap[MetricKey, int]) -> list[dict[str, Any]]:
    return [
        {
            "company_id": key.company_id,
            "metric": key.metric,
            "period": key.period,
            "amount_cents": values[key],
        }
        for key in sorted(values)
    ]


def state_from_json(data: Mapping[str, Any]) -> FundState:
    """The state stored by state_to_json.

    Raises FoldVersionMismatchError for JSON of another fold version, and StoredStateError
    (a ValueError, naming the offending key) for anything that is not such JSON.
    """
    root = read_object(data, "state")
    # Checked before anything else: another fold version may lay its JSON out differently.
    found = root.raw("fold_version")
    if type(found) is not int or found != FOLD_VERSION:
        raise FoldVersionMismatchError(found)
    companies: dict[str, CompanyState] = {}
    for item in root.objects("companies"):
        company = CompanyState(
            company_id=item.text("company_id"),
            name=item.text("name"),
            sector=item.text("sector"),
            invested=item.integer("invested_cents"),
            valuation=item.integer("valuation_cents"),
            ownership_bps=item.integer("ownership_bps"),
            allocation_cap=item.integer("allocation_cap_cents"),
            planned_reserves=item.integer("planned_reserves_cents"),
            deployed_reserves=item.integer("deployed_reserves_cents"),
            distributed=item.integer("distributed_cents"),
            instrument=item.integer("instrument"),
            shares=item.integer("shares"),
            price_per_share_micros=item.integer("price_per_share_micros"),
            valuation_method=item.integer("valuation_method"),
            valuation_effective_at=_optional_instant(item, "valuation_effective_at"),
        )
        if company.company_id in companies:
            raise StoredStateError(f"{item.path}: company {company.company_id!r} appears twice")
        companies[company.company_id] = company
    return FundState(
        fund_id=root.text("fund_id"),
        name=root.text("name"),
        currency=root.text("currency"),
        vintage_year=root.integer("vintage_year"),
        committed=root.integer("committed_cents"),
        called=root.integer("called_cents"),
        invested=root.integer("invested_cents"),
        distributed=root.integer("distributed_cents"),
        companies=FrozenMap(companies),
        forecasts=_metrics_from_json(root, "forecasts"),
        actuals=_metrics_from_json(root, "actuals"),
        file_ids=frozenset(root.texts("file_ids")),
        version=root.integer("version"),
        last_event_at=_optional_instant(root, "last_event_at"),
        last_effective_at=_optional_instant(root, "last_effective_at"),
        skipped_events=root.integer("skipped_events"),
    )


def _metrics_from_json(root: JsonObject, key: str) -> FrozenMap[MetricKey, int]:
    values: dict[MetricKey, int] = {}
    for item in root.objects(key):
        metric_key = MetricKey(item.text("company_id"), item.text("metric"), item.text("period"))
        if metric_key in values:
            raise StoredStateError(f"{item.path}: {tuple(metric_key)!r} appears twice")
        values[metric_key] = item.integer("amount_cents")
    return FrozenMap(values)


def _optional_instant(item: JsonObject, key: str) -> datetime | None:
    text = item.optional_text(key)
    return None if text is None else _instant(text, f"{item.path}.{key}")


def _instant(text: str, where: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise StoredStateError(f"{where}: {text!r} is not ISO 8601") from None
    if moment.utcoffset() is None:
        raise StoredStateError(f"{where}: {text!r} has no UTC offset")
    # Stored states are written in UTC (see evolve); an edited offset still means the same instant.
    return moment.astimezone(UTC)
