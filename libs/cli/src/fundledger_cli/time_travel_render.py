"""Rich tables for the two clocks: a fund as of a date as known at a time, and a restatement.

Money is integer cents (rendered by fundledger_cli.render.cents); ratios come as basis points
and are shown as multiples (TVPI 13457 bps = 1.3457x) or percentages (ownership), never through
a float.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from fundledger.fund.v1 import events_pb2 as fund_events
from fundledger.fund.v1 import state_pb2
from fundledger.snapshotter.v1 import snapshotter_pb2
from google.protobuf import json_format
from google.protobuf.descriptor import EnumDescriptor
from rich.markup import escape
from rich.table import Table

from fundledger_cli.render import bps_percent, cents, data_text, timestamp

# Ratios in basis points that read as multiples of capital, not as percentages.
_MULTIPLES = frozenset({"dpi_bps", "tvpi_bps", "moic_bps"})


def basis_of(snapshot_id: str, snapshot_version: int, events_replayed: int) -> str:
    """What the snapshotter folded: "snapshot v40 (id) + 9 event(s)" or "9 event(s), no
    snapshot"."""
    if snapshot_id:
        return f"snapshot v{snapshot_version} ({snapshot_id}) + {events_replayed} event(s)"
    return f"{events_replayed} event(s) folded from the first, no snapshot"


def clocks_table(response: snapshotter_pb2.GetFundStateAtResponse) -> Table:
    """The answer's two clocks, its version and the snapshot it started from."""
    table = Table(title="Clocks", title_justify="left", show_header=False)
    table.add_column("what")
    table.add_column("value")
    state = response.state
    for name, value in (
        ("as of (business date)", timestamp(response.effective_at)),
        ("as known at", timestamp(response.known_at)),
        ("version", str(response.version)),
        ("latest effective folded", timestamp(state.last_effective_at)),
        ("latest recorded folded", timestamp(state.last_event_at)),
        (
            "computed from",
            basis_of(response.snapshot_id, response.snapshot_version, response.events_replayed),
        ),
    ):
        table.add_row(name, value)
    return table


def holdings_table(state: state_pb2.FundState) -> Table:
    """What the fund holds in each company and how its valuation was arrived at."""
    table = Table(title="Holdings", title_justify="left")
    table.add_column("company")
    table.add_column("instrument")
    table.add_column("shares", justify="right")
    table.add_column("price/share", justify="right")
    table.add_column("valuation", justify="right")
    table.add_column("method")
    table.add_column("valuation effective (UTC)")
    for c in state.companies:
        table.add_row(
            escape(c.company_id),
            _enum_name(fund_events.Instrument.DESCRIPTOR, c.instrument, "INSTRUMENT_"),
            f"{c.shares:,}" if c.shares else "-",
            micros(c.price_per_share_micros) if c.price_per_share_micros else "-",
            cents(c.valuation_cents),
            _enum_name(
                fund_events.ValuationMethod.DESCRIPTOR, c.valuation_method, "VALUATION_METHOD_"
            ),
            timestamp(c.valuation_effective_at),
        )
    return table


def micros(amount: int) -> str:
    """Millionths of a currency unit: 1_250_000 -> '1.250000'; integer arithmetic only."""
    sign = "-" if amount < 0 else ""
    whole, fraction = divmod(abs(amount), 1_000_000)
    return f"{sign}{whole:,}.{fraction:06d}"


def figure_value(figure: str, value: int) -> str:
    """One integer figure in its unit, known from its name (as in FundState / CompanyState)."""
    if figure.endswith("_cents"):
        return cents(value)
    if figure in _MULTIPLES:
        sign = "-" if value < 0 else ""
        whole, fraction = divmod(abs(value), 10_000)
        return f"{sign}{whole}.{fraction:04d}x"
    if figure.endswith("_bps"):
        return bps_percent(value)
    if figure.endswith("_micros"):
        return micros(value)
    return f"{value:,}"


def _signed(figure: str, delta: int) -> str:
    return ("+" if delta > 0 else "") + figure_value(figure, delta)


def side_by_side_table(
    before: state_pb2.FundState, after: state_pb2.FundState, headings: tuple[str, str]
) -> Table:
    """The fund's figures in both states, one column each."""
    table = Table(title="Fund", title_justify="left")
    table.add_column("figure")
    table.add_column(headings[0], justify="right")
    table.add_column(headings[1], justify="right")
    rows: list[tuple[str, str, str]] = [
        ("version", str(before.version), str(after.version)),
        (
            "latest effective",
            timestamp(before.last_effective_at),
            timestamp(after.last_effective_at),
        ),
        ("latest recorded", timestamp(before.last_event_at), timestamp(after.last_event_at)),
    ]
    for label, field in (
        ("committed", "committed_cents"),
        ("called", "called_cents"),
        ("invested", "invested_cents"),
        ("distributed", "distributed_cents"),
        ("total value (NAV of holdings)", "total_value_cents"),
        ("DPI", "dpi_bps"),
        ("TVPI", "tvpi_bps"),
        ("planned reserves", "total_planned_reserves_cents"),
        ("deployed reserves", "total_deployed_reserves_cents"),
    ):
        rows.append(
            (
                label,
                figure_value(field, getattr(before, field)),
                figure_value(field, getattr(after, field)),
            )
        )
    for label, first, second in rows:
        table.add_row(label, first, second)
    return table


def figure_changes_table(changes: Sequence[snapshotter_pb2.FigureChange], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("figure")
    for heading in ("before", "after", "change"):
        table.add_column(heading, justify="right")
    for change in changes:
        table.add_row(
            escape(change.figure),
            figure_value(change.figure, change.before),
            figure_value(change.figure, change.after),
            _signed(change.figure, change.delta),
        )
    return table


def company_changes_table(companies: Iterable[snapshotter_pb2.CompanyRestatement]) -> Table:
    table = Table(title="Per company", title_justify="left")
    table.add_column("company")
    table.add_column("name")
    table.add_column("figure")
    for heading in ("before", "after", "change"):
        table.add_column(heading, justify="right")
    for company in companies:
        for change in company.changes:
            table.add_row(
                escape(company.company_id),
                escape(company.name or "-"),
                escape(change.figure),
                figure_value(change.figure, change.before),
                figure_value(change.figure, change.after),
                _signed(change.figure, change.delta),
            )
    return table


def explaining_events_table(entries: Iterable[snapshotter_pb2.TimelineEntry]) -> Table:
    """The events behind a restatement: both clocks of each, and its payload (newest schema)."""
    table = Table(title="Explained by", title_justify="left")
    table.add_column("version", justify="right")
    table.add_column("type")
    table.add_column("effective (UTC)")
    table.add_column("recorded (UTC)")
    table.add_column("user")
    table.add_column("payload")
    for entry in entries:
        event = entry.event
        table.add_row(
            str(event.version),
            escape(event.event_type),
            timestamp(event.effective_at),
            timestamp(event.recorded_at),
            escape(event.user_id or "-"),
            escape(payload_text(entry)),
        )
    return table


def payload_text(entry: snapshotter_pb2.TimelineEntry, width: int = 100) -> str:
    """The decoded payload as compact JSON (the stored bytes when it has no fund message)."""
    if not entry.HasField("payload"):
        return data_text(entry.event.data, width)
    try:
        decoded = json_format.MessageToDict(entry.payload, preserving_proto_field_name=True)
    except (TypeError, json_format.Error):  # a type this CLI's protos do not know
        return data_text(entry.event.data, width)
    decoded.pop("@type", None)
    text = ", ".join(f"{key}={value}" for key, value in decoded.items())
    return text if len(text) <= width else text[: width - 1] + "…"


def _enum_name(enum: EnumDescriptor, number: int, prefix: str) -> str:
    if number == 0:
        return "-"
    value = enum.values_by_number.get(number)
    # A value newer than this CLI's protos shows as its number.
    return str(number) if value is None else value.name.removeprefix(prefix)
