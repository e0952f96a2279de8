"""Rich tables for the demo's output: fund figures, companies, a reallocation. No I/O of its own."""

from __future__ import annotations

from collections.abc import Sequence

from fundledger.allocation.v1 import allocation_pb2
from fundledger.fund.v1 import state_pb2
from rich.table import Table
from rich.text import Text


def money(cents: int) -> str:
    """Whole dollars with separators: 1234567_89 -> "$1,234,568" (half up, away from zero)."""
    sign = "-" if cents < 0 else ""
    dollars = (abs(cents) + 50) // 100
    return f"{sign}${dollars:,}"


def millions(cents: int) -> str:
    """Millions of dollars, 2 places, from integer cents: 1_234_567_89 -> "$1.23M"."""
    sign = "-" if cents < 0 else ""
    hundredths = (abs(cents) + 500_000) // 1_000_000  # one hundredth of a million = $10,000
    return f"{sign}${hundredths // 100}.{hundredths % 100:02d}M"


def signed_money(cents: int) -> str:
    return ("+" if cents > 0 else "") + money(cents)


def percent_bps(bps: int) -> str:
    return f"{bps / 100:.1f}%"


def fund_table(columns: Sequence[tuple[str, state_pb2.FundState]]) -> Table:
    """The fund's figures, one column per (heading, state): e.g. a year in vs now."""
    table = Table(title="Fund", title_justify="left")
    table.add_column("")
    for heading, _ in columns:
        table.add_column(heading, justify="right")
    states = [state for _, state in columns]
    rows: list[tuple[str, list[str]]] = [
        ("Version", [f"v{s.version}" for s in states]),
        ("Last event recorded", [s.last_event_at.ToJsonString() for s in states]),
        ("Committed (fund size)", [money(s.committed_cents) for s in states]),
        ("Called", [money(s.called_cents) for s in states]),
        ("Uncalled", [money(s.uncalled_cents) for s in states]),
        ("Invested", [money(s.invested_cents) for s in states]),
        ("Distributed", [money(s.distributed_cents) for s in states]),
        ("Total value (latest marks)", [money(s.total_value_cents) for s in states]),
        ("DPI", [f"{s.dpi}x" for s in states]),
        ("TVPI", [f"{s.tvpi}x" for s in states]),
        ("Planned reserves", [money(s.total_planned_reserves_cents) for s in states]),
        ("Deployed reserves", [money(s.total_deployed_reserves_cents) for s in states]),
        ("Companies", [str(len(s.companies)) for s in states]),
        ("Forecasts / actuals", [f"{len(s.forecasts):,} / {len(s.actuals):,}" for s in states]),
    ]
    for label, cells in rows:
        table.add_row(label, *cells)
    return table


def companies_table(state: state_pb2.FundState) -> Table:
    table = Table(title=f"Portfolio ({len(state.companies)} companies)", title_justify="left")
    table.add_column("Company", no_wrap=True)
    for heading in (
        "Invested",
        "Valuation",
        "Own.",
        "MOIC",
        "Distrib.",
        "Cap",
        "Planned",
        "Deployed",
    ):
        table.add_column(heading, justify="right", no_wrap=True)
    for c in sorted(state.companies, key=lambda c: -c.invested_cents):
        moic = Text(f"{c.moic_bps / 10_000:.2f}x", style="green" if c.moic_bps >= 15_000 else "")
        if c.moic_bps < 5_000:
            moic.stylize("red")
        table.add_row(
            c.name,
            millions(c.invested_cents),
            millions(c.valuation_cents),
            percent_bps(c.ownership_bps),
            moic,
            millions(c.distributed_cents) if c.distributed_cents else "",
            millions(c.allocation_cap_cents),
            millions(c.planned_reserves_cents),
            millions(c.deployed_reserves_cents) if c.deployed_reserves_cents else "",
        )
    return table


def variance_summary(state: state_pb2.FundState, metric: str = "revenue") -> Table:
    """Forecast vs actual of one metric over the last reported period, biggest misses first."""
    rows = [v for v in state.variances if v.metric == metric]
    if not rows:
        return Table(title=f"No {metric} actuals yet")
    period = max(v.period for v in rows)
    latest = sorted((v for v in rows if v.period == period), key=lambda v: v.variance_bps)
    names = {c.company_id: c.name for c in state.companies}
    table = Table(
        title=f"Forecast vs actual, {metric}, {period} (5 furthest below plan)",
        title_justify="left",
    )
    for heading in ("Company", "Forecast", "Actual", "Variance"):
        table.add_column(heading, justify="left" if heading == "Company" else "right")
    for v in latest[:5]:
        table.add_row(
            names.get(v.company_id, v.company_id),
            money(v.forecast_cents),
            money(v.actual_cents),
            f"{signed_money(v.variance_cents)} ({v.variance_bps / 100:+.1f}%)",
        )
    return table


def changes_table(
    changes: Sequence[allocation_pb2.Change], totals: allocation_pb2.Totals, title: str
) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("Company")
    for heading in ("Planned before", "Planned after", "Change"):
        table.add_column(heading, justify="right")
    for change in changes:
        table.add_row(
            change.name or change.company_id,
            money(change.from_cents),
            money(change.to_cents),
            signed_money(change.delta_cents),
        )
    table.add_section()
    table.add_row(
        Text("Total", style="bold"),
        money(totals.before_cents),
        money(totals.after_cents),
        signed_money(totals.delta_cents),
    )
    return table


def finding_lines(findings: Sequence[allocation_pb2.Finding]) -> list[Text]:
    lines = []
    for finding in findings:
        severity = allocation_pb2.Severity.Name(finding.severity).removeprefix("SEVERITY_")
        kind = allocation_pb2.FindingType.Name(finding.type).removeprefix("FINDING_TYPE_")
        style = "bold red" if severity == "ERROR" else "yellow"
        line = Text(f"  {severity} ", style=style)
        line.append(f"{kind}: {finding.message}")
        lines.append(line)
    return lines
