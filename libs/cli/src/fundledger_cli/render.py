"""Rich tables for what the services return. Money is integer cents, shown as 1,234,567.89."""

from __future__ import annotations

import json
from collections.abc import Iterable

from fundledger.allocation.v1 import allocation_pb2
from fundledger.eventstore.v1 import events_pb2
from fundledger.fund.v1 import state_pb2
from fundledger.snapshotter.v1 import snapshotter_pb2
from fundledger.storage.v1 import storage_pb2
from fundledger_kernel import PayloadError, is_fund_event
from fundledger_kernel.fund_schemas import newest_schema_version, upcast
from google.protobuf.timestamp_pb2 import Timestamp
from rich.markup import escape
from rich.table import Table

# Data cells in event tables are cut to this many characters (--json shows them whole).
DATA_WIDTH = 60


def cents(amount: int) -> str:
    """1234567 -> '12,345.67'; integer arithmetic only, never a float."""
    sign = "-" if amount < 0 else ""
    whole, fraction = divmod(abs(amount), 100)
    return f"{sign}{whole:,}.{fraction:02d}"


def bps_percent(bps: int) -> str:
    """Basis points as a percentage: 1234 -> '12.34%'."""
    sign = "-" if bps < 0 else ""
    whole, fraction = divmod(abs(bps), 100)
    return f"{sign}{whole}.{fraction:02d}%"


def timestamp(ts: Timestamp) -> str:
    if ts.seconds == 0 and ts.nanos == 0:
        return "-"
    return ts.ToDatetime().strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


def data_text(data: bytes, width: int = DATA_WIDTH) -> str:
    try:
        text = json.dumps(json.loads(data), separators=(",", ":"), ensure_ascii=False)
    except ValueError:
        text = data.decode("utf-8", "replace")
    return _cut(text, width)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def newest_shape(event: events_pb2.RecordedEvent) -> tuple[int, object]:
    """The event's schema version and payload as every reader sees them: a fund event of an
    older schema version upcast to its type's newest (the stored event is never changed);
    anything else, or a payload the kernel cannot upcast, as stored."""
    try:
        data: object = json.loads(event.data)
    except ValueError:
        return event.schema_version, event.data.decode("utf-8", "replace")
    if is_fund_event(event.event_type) and isinstance(data, dict):
        newest = newest_schema_version(event.event_type)
        if (event.schema_version or 1) < newest:
            try:
                return newest, dict(upcast(event.event_type, event.schema_version, data))
            except PayloadError:
                pass
    return event.schema_version, data


def _payload_text(event: events_pb2.RecordedEvent, width: int = DATA_WIDTH) -> str:
    _, data = newest_shape(event)
    if isinstance(data, str):
        text = data
    else:
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return _cut(text, width)


def _effective(event: events_pb2.RecordedEvent) -> Timestamp:
    """The event's effective time; its recorded time when the server sent none (an event store
    from before business time)."""
    return event.effective_at if event.HasField("effective_at") else event.recorded_at


def event_line(event: events_pb2.RecordedEvent) -> str:
    """One line per event, for `events tail`; a backdated event shows its effective time too."""
    effective = (
        f"  (effective {timestamp(event.effective_at)})"
        if event.HasField("effective_at") and event.effective_at != event.recorded_at
        else ""
    )
    return (
        f"{event.position:>8}  {timestamp(event.recorded_at)}  {event.stream_id} "
        f"v{event.version}  {event.event_type}{effective}  {_payload_text(event, 120)}"
    )


def event_json(event: events_pb2.RecordedEvent) -> str:
    """One event as a JSON line (data decoded, in its newest schema shape with that schema
    version, so a line re-imports as it reads), for --json."""
    schema_version, data = newest_shape(event)
    return json.dumps(
        {
            "stream_id": event.stream_id,
            "version": event.version,
            "position": event.position,
            "event_id": event.event_id,
            "event_type": event.event_type,
            "schema_version": schema_version,
            "data": data,
            "metadata": dict(event.metadata),
            "user_id": event.user_id,
            "correlation_id": event.correlation_id,
            "causation_id": event.causation_id,
            "source": event.source,
            "recorded_at": event.recorded_at.ToJsonString(),
            "effective_at": _effective(event).ToJsonString(),
        },
        ensure_ascii=False,
        sort_keys=True,
    )


def events_table(events: Iterable[events_pb2.RecordedEvent], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for name, justify in (
        ("version", "right"),
        ("position", "right"),
        ("type", "left"),
        ("recorded at (UTC)", "left"),
        ("effective at (UTC)", "left"),
        ("user", "left"),
        ("data", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for e in events:
        table.add_row(
            str(e.version),
            str(e.position),
            escape(e.event_type),
            timestamp(e.recorded_at),
            timestamp(_effective(e)),
            escape(e.user_id or "-"),
            escape(_payload_text(e)),
        )
    return table


def fund_summary_table(state: state_pb2.FundState, title: str) -> Table:
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("figure")
    table.add_column("value", justify="right")
    rows = [
        ("fund", state.fund_id),
        ("name", escape(state.name or "-")),
        ("currency", escape(state.currency or "-")),
        ("vintage", str(state.vintage_year) if state.vintage_year else "-"),
        ("version", str(state.version)),
        ("last event", timestamp(state.last_event_at)),
        ("committed", cents(state.committed_cents)),
        ("called", cents(state.called_cents)),
        ("uncalled", cents(state.uncalled_cents)),
        ("invested", cents(state.invested_cents)),
        ("distributed", cents(state.distributed_cents)),
        ("total value", cents(state.total_value_cents)),
        ("DPI", state.dpi or "-"),
        ("TVPI", state.tvpi or "-"),
        ("planned reserves", cents(state.total_planned_reserves_cents)),
        ("deployed reserves", cents(state.total_deployed_reserves_cents)),
        ("files", str(len(state.file_ids))),
    ]
    if state.skipped_events:
        rows.append(("skipped events", str(state.skipped_events)))
    for name, value in rows:
        table.add_row(name, value)
    return table


def companies_table(state: state_pb2.FundState) -> Table:
    table = Table(title="Companies", title_justify="left")
    table.add_column("company")
    table.add_column("name")
    for name in (
        "invested",
        "valuation",
        "ownership",
        "MOIC",
        "cap",
        "planned res.",
        "deployed res.",
        "distributed",
    ):
        table.add_column(name, justify="right")
    for c in state.companies:
        table.add_row(
            escape(c.company_id),
            escape(c.name or "-"),
            cents(c.invested_cents),
            cents(c.valuation_cents),
            bps_percent(c.ownership_bps),
            c.moic or "-",
            cents(c.allocation_cap_cents),
            cents(c.planned_reserves_cents),
            cents(c.deployed_reserves_cents),
            cents(c.distributed_cents),
        )
    return table


def variances_table(state: state_pb2.FundState) -> Table:
    table = Table(title="Forecast vs actual", title_justify="left")
    for name in ("company", "metric", "period"):
        table.add_column(name)
    for name in ("forecast", "actual", "variance", "variance %"):
        table.add_column(name, justify="right")
    for v in state.variances:
        table.add_row(
            escape(v.company_id),
            escape(v.metric),
            escape(v.period),
            cents(v.forecast_cents),
            cents(v.actual_cents),
            cents(v.variance_cents),
            bps_percent(v.variance_bps),
        )
    return table


def snapshots_table(snapshots: Iterable[snapshotter_pb2.Snapshot], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("version", justify="right")
    table.add_column("position", justify="right")
    table.add_column("event time (UTC)")
    table.add_column("trigger")
    table.add_column("fold", justify="right")
    table.add_column("events since prev.", justify="right")
    table.add_column("taken at (UTC)")
    table.add_column("snapshot id")
    for s in snapshots:
        trigger = snapshotter_pb2.SnapshotTrigger.Name(s.trigger).removeprefix("SNAPSHOT_TRIGGER_")
        table.add_row(
            str(s.version),
            str(s.position),
            timestamp(s.event_time),
            trigger,
            str(s.fold_version),
            str(s.events_since_previous),
            timestamp(s.create_time),
            s.snapshot_id,
        )
    return table


def changes_table(changes: Iterable[allocation_pb2.Change], totals: allocation_pb2.Totals) -> Table:
    table = Table(title="Planned reserves", title_justify="left")
    table.add_column("company")
    table.add_column("name")
    table.add_column("from", justify="right")
    table.add_column("to", justify="right")
    table.add_column("delta", justify="right")
    for c in changes:
        table.add_row(
            escape(c.company_id),
            escape(c.name or "-"),
            cents(c.from_cents),
            cents(c.to_cents),
            _signed(c.delta_cents),
        )
    table.add_section()
    table.add_row(
        "total",
        "",
        cents(totals.before_cents),
        cents(totals.after_cents),
        _signed(totals.delta_cents),
    )
    return table


def _signed(amount: int) -> str:
    return ("+" if amount > 0 else "") + cents(amount)


def findings_table(findings: Iterable[allocation_pb2.Finding]) -> Table:
    table = Table(title="Findings", title_justify="left")
    table.add_column("severity")
    table.add_column("rule")
    table.add_column("company")
    table.add_column("message")
    for f in findings:
        severity = allocation_pb2.Severity.Name(f.severity).removeprefix("SEVERITY_")
        style = "bold red" if f.severity == allocation_pb2.SEVERITY_ERROR else "yellow"
        table.add_row(
            f"[{style}]{severity}[/]",
            allocation_pb2.FindingType.Name(f.type).removeprefix("FINDING_TYPE_"),
            escape(f.company_id or "-"),
            escape(f.message),
        )
    return table


def file_table(files: Iterable[storage_pb2.FileRecord], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("file id", no_wrap=True, min_width=36)
    table.add_column("name")
    table.add_column("size", justify="right")
    table.add_column("type", no_wrap=True)
    table.add_column("sha256", no_wrap=True)
    table.add_column("entity", no_wrap=True)
    table.add_column("stored at (UTC)", no_wrap=True)
    for f in files:
        table.add_row(
            f.file_id,
            escape(f.file_name),
            f"{f.size_bytes:,}",
            escape(f.content_type),
            f.sha256[:16] + "…",
            f"{f.entity_type}-{f.entity_id}",
            timestamp(f.create_time),
        )
    return table
