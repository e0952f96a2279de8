"""The demo's document: a quarterly portfolio report as CSV, built from a fund state. Pure."""

from __future__ import annotations

import csv
import io

from fundledger.fund.v1 import state_pb2

_COLUMNS = (
    "company_id",
    "name",
    "sector",
    "invested_cents",
    "valuation_cents",
    "ownership_bps",
    "moic",
    "distributed_cents",
    "allocation_cap_cents",
    "planned_reserves_cents",
    "deployed_reserves_cents",
)


def quarterly_report_csv(state: state_pb2.FundState, period: str) -> bytes:
    """One row per company, then a fund totals row; money in integer cents."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([f"# {state.name} quarterly report {period}", f"fund {state.fund_id}"])
    writer.writerow(_COLUMNS)
    for c in state.companies:
        writer.writerow(
            [
                c.company_id,
                c.name,
                c.sector,
                c.invested_cents,
                c.valuation_cents,
                c.ownership_bps,
                c.moic,
                c.distributed_cents,
                c.allocation_cap_cents,
                c.planned_reserves_cents,
                c.deployed_reserves_cents,
            ]
        )
    writer.writerow(
        [
            "TOTAL",
            state.name,
            "",
            state.invested_cents,
            state.total_value_cents,
            "",
            state.tvpi,
            state.distributed_cents,
            "",
            state.total_planned_reserves_cents,
            state.total_deployed_reserves_cents,
        ]
    )
    return out.getvalue().encode("utf-8")
