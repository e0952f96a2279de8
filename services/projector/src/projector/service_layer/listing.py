"""ListFunds' use case: projected funds in fund id order, a page at a time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from projector.domain.stored_state import committed_cents
from projector.service_layer.ports import ProjectionRows


@dataclass(frozen=True)
class FundSummary:
    fund_id: str
    name: str
    version: int
    # 0 when the stored state cannot be read (a listing folds nothing and writes nothing).
    committed_cents: int
    updated_at: datetime


@dataclass(frozen=True)
class FundPage:
    funds: list[FundSummary]
    # The fund id the next page starts after; None on the last page.
    next_after: str | None


async def list_funds(rows: ProjectionRows, after: str | None, size: int) -> FundPage:
    """Keyset paging (stable under inserts): the funds strictly after `after`."""
    found = await rows.page(after, size + 1)
    funds = [
        FundSummary(
            row.fund_id,
            row.name,
            row.version,
            committed_cents(row.fund_id, row.version, row.fold_version, row.state_text),
            row.updated_at,
        )
        for row in found[:size]
    ]
    return FundPage(funds, found[size - 1].fund_id if len(found) > size else None)
