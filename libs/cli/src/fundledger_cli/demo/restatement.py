"""The demo's last step: book a late write-down and show the restatement of the Q3 NAV.

1. the fund as of the last day of Q3, as known now (before anything is booked): the Q3 report;
2. a VALUATION_UPDATED with method WRITE_DOWN for its largest holding, effective that day and
   recorded now (fundledger_cli.demo.write_down);
3. GetRestatement: Q3 as known a moment before the write-down was recorded (what was reported)
   against Q3 as known now, with the figures that moved and the event that explains them;
   and GetFundStateAt at that earlier known time, which is the report, reproduced exactly.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from fundledger.eventstore.v1 import eventstore_pb2
from fundledger.eventstore.v1.events_pb2 import EventData
from fundledger.snapshotter.v1 import snapshotter_pb2
from google.protobuf.timestamp_pb2 import Timestamp
from rich.console import Console
from rich.table import Table

from fundledger_cli.business_time import END_OF_DAY
from fundledger_cli.demo import render
from fundledger_cli.demo.write_down import WriteDown, choose_write_down

if TYPE_CHECKING:
    from fundledger.eventstore.v1.eventstore_pb2_grpc import EventStoreServiceAsyncStub
    from fundledger.snapshotter.v1.snapshotter_pb2_grpc import SnapshotterServiceAsyncStub

_RPC_TIMEOUT = 60.0
_MULTIPLES = frozenset({"dpi_bps", "tvpi_bps", "moic_bps"})


@dataclass(frozen=True)
class Restated:
    write_down: WriteDown
    # The business date E (the end of the quarter's last day) and the known time "as reported".
    effective_at: Timestamp
    reported_known_at: Timestamp
    appended: eventstore_pb2.AppendToStreamResponse
    # The fund as of E as known at reported_known_at (GetFundStateAt): the report as it went out.
    reported: snapshotter_pb2.GetFundStateAtResponse
    restatement: snapshotter_pb2.GetRestatementResponse


def _timestamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def _day(stamp: Timestamp) -> str:
    return stamp.ToDatetime(tzinfo=UTC).date().isoformat()


async def restate(
    console: Console,
    store: EventStoreServiceAsyncStub,
    snapshotter: SnapshotterServiceAsyncStub,
    fund_id: str,
    quarter_end: date,
    *,
    user: str,
    source: str,
    exclude: Collection[str] = (),
) -> Restated:
    """Steps 1-3 of the module docstring, printed on `console`."""
    effective_at = _timestamp(datetime.combine(quarter_end, END_OF_DAY))
    label = f"{quarter_end.year}-Q{(quarter_end.month - 1) // 3 + 1}"
    before = await snapshotter.GetFundStateAt(
        snapshotter_pb2.GetFundStateAtRequest(fund_id=fund_id, effective_at=effective_at),
        timeout=_RPC_TIMEOUT,
    )
    console.print(
        f"{label} as reported: the fund as of {quarter_end} (effective_at ="
        f" {effective_at.ToJsonString()}), v{before.version},"
        f" total value {render.money(before.state.total_value_cents)},"
        f" TVPI {before.state.tvpi}x"
    )
    write_down = choose_write_down(before.state, quarter_end, exclude)
    info = await store.GetStreamInfo(
        eventstore_pb2.GetStreamInfoRequest(stream_id=fund_id), timeout=_RPC_TIMEOUT
    )
    event = EventData(
        event_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{fund_id}/write-down/{quarter_end}")),
        event_type="VALUATION_UPDATED",
        schema_version=2,
        data=json.dumps(write_down.payload(), sort_keys=True, separators=(",", ":")).encode(),
        metadata={"reason": f"{label} mark overstated: main customer lost in September"},
        user_id=user,
        source=source,
    )
    event.effective_at.FromDatetime(write_down.effective_at)
    appended = await store.AppendToStream(
        eventstore_pb2.AppendToStreamRequest(
            stream_id=fund_id,
            expected_version=info.version,
            events=[event],
            idempotency_key=f"demo-write-down-{fund_id}",
        ),
        timeout=_RPC_TIMEOUT,
    )
    console.print(
        f"booked now: VALUATION_UPDATED v{appended.last_version}, method WRITE_DOWN,"
        f" {write_down.name} {render.money(write_down.before_cents)}"
        f" -> {render.money(write_down.after_cents)}, effective {write_down.effective_on},"
        f" recorded {appended.recorded_at.ToJsonString()}"
    )
    # "As reported": everything recorded up to a moment before the write-down was.
    reported_at = appended.recorded_at.ToDatetime(tzinfo=UTC) - timedelta(microseconds=1)
    reported_known_at = _timestamp(reported_at)
    reported = await snapshotter.GetFundStateAt(
        snapshotter_pb2.GetFundStateAtRequest(
            fund_id=fund_id, effective_at=effective_at, known_at=reported_known_at
        ),
        timeout=_RPC_TIMEOUT,
    )
    restatement = await snapshotter.GetRestatement(
        snapshotter_pb2.GetRestatementRequest(
            fund_id=fund_id, effective_at=effective_at, known_at_before=reported_known_at
        ),
        timeout=_RPC_TIMEOUT,
    )
    _print_restatement(console, label, restatement, reported)
    # soft_wrap: the command stays on one line, so it can be copied.
    console.print(
        "the same from the CLI: fundledger fund restatement"
        f" {fund_id} --effective {quarter_end} --before {reported_known_at.ToJsonString()}",
        soft_wrap=True,
    )
    return Restated(
        write_down=write_down,
        effective_at=effective_at,
        reported_known_at=reported_known_at,
        appended=appended,
        reported=reported,
        restatement=restatement,
    )


def _print_restatement(
    console: Console,
    label: str,
    restatement: snapshotter_pb2.GetRestatementResponse,
    reported: snapshotter_pb2.GetFundStateAtResponse,
) -> None:
    source = (
        f"snapshot v{reported.snapshot_version} + {reported.events_replayed} events"
        if reported.snapshot_id
        else f"{reported.events_replayed} events folded, no snapshot"
    )
    console.print(
        f"{label} as known at {restatement.known_at_before.ToJsonString()} ({source})"
        f" vs as known now ({restatement.known_at_after.ToJsonString()}):"
    )
    console.print(
        render.fund_table(
            [
                (f"{label} as reported", restatement.before),
                (f"{label} as known now", restatement.after),
            ]
        )
    )
    console.print(changes_table(restatement))
    console.print(explaining_table(restatement.events, label))


def figure(name: str, value: int) -> str:
    """A restated figure in the demo's units: dollars, multiples, percentages, counts."""
    if name.endswith("_cents"):
        return render.money(value)
    if name in _MULTIPLES:
        sign = "-" if value < 0 else ""
        return f"{sign}{abs(value) // 10_000}.{abs(value) % 10_000:04d}x"
    if name.endswith("_bps"):
        return render.percent_bps(value)
    return f"{value:,}"


def _change(name: str, delta: int) -> str:
    return ("+" if delta > 0 else "") + figure(name, delta)


def changes_table(restatement: snapshotter_pb2.GetRestatementResponse) -> Table:
    """Every figure that moved: the fund's, then each company's."""
    table = Table(title="Restated figures", title_justify="left")
    table.add_column("")
    table.add_column("Figure")
    for heading in ("As reported", "As known now", "Change"):
        table.add_column(heading, justify="right")
    for change in restatement.changes:
        table.add_row(
            "Fund",
            change.figure,
            figure(change.figure, change.before),
            figure(change.figure, change.after),
            _change(change.figure, change.delta),
        )
    for company in restatement.companies:
        for change in company.changes:
            table.add_row(
                company.name or company.company_id,
                change.figure,
                figure(change.figure, change.before),
                figure(change.figure, change.after),
                _change(change.figure, change.delta),
            )
    return table


def explaining_table(entries: Sequence[snapshotter_pb2.TimelineEntry], label: str) -> Table:
    table = Table(
        title=f"Explained by (recorded since, effective by the end of {label})",
        title_justify="left",
    )
    for heading in ("Version", "Type", "Effective", "Recorded", "By", "Payload"):
        table.add_column(heading)
    for entry in entries:
        event = entry.event
        table.add_row(
            f"v{event.version}",
            event.event_type,
            _day(event.effective_at),
            event.recorded_at.ToJsonString(),
            event.user_id or "-",
            json.dumps(json.loads(event.data), sort_keys=True, separators=(",", ":")),
        )
    return table
