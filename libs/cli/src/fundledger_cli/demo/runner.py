"""`make demo`: drive a running stack through a realistic fund, step by step.

1. generate two years of a fund's history (pure, seeded; business dates in 2024 and 2025);
2. append it to a fresh `fund-<uuid>` stream, one quarter per append, with expected versions,
   every event effective on its business date (recorded now, long after);
3. the current state from the projector (read-your-writes at the last version);
4. the fund on the last day of year one, by business date, from the snapshotter (nearest
   snapshot + replay);
5. a reserve reallocation: preview (with warnings), then commit, then its audit entry;
6. a quarterly report uploaded to storage, and a signed URL to download it;
7. a late write-down, effective on the last day of Q3 2025 and recorded now, and the
   restatement of Q3: as reported at the time vs as known now, with the event that explains it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from fundledger.allocation.v1 import allocation_pb2, allocation_pb2_grpc
from fundledger.eventstore.v1 import eventstore_pb2, eventstore_pb2_grpc
from fundledger.eventstore.v1.events_pb2 import EventData
from fundledger.fund.v1 import state_pb2
from fundledger.projector.v1 import projector_pb2, projector_pb2_grpc
from fundledger.snapshotter.v1 import snapshotter_pb2, snapshotter_pb2_grpc
from fundledger.storage.v1 import storage_pb2, storage_pb2_grpc
from google.protobuf.timestamp_pb2 import Timestamp
from rich.console import Console
from rich.text import Text

from fundledger_cli.business_time import END_OF_DAY
from fundledger_cli.demo import render
from fundledger_cli.demo.connect import (
    StackNotRunningError,
    check_serving,
    demo_channels,
    health_credentials,
    stack_endpoints,
)
from fundledger_cli.demo.history import (
    DEFAULT_SEED,
    DemoEvent,
    FundHistory,
    generate_history,
    month_end,
    quarter_batches,
)
from fundledger_cli.demo.proposal import lines_from_proto, propose
from fundledger_cli.demo.report import quarterly_report_csv
from fundledger_cli.demo.restatement import Restated, restate

if TYPE_CHECKING:
    from fundledger.allocation.v1.allocation_pb2_grpc import AllocationServiceAsyncStub
    from fundledger.eventstore.v1.eventstore_pb2_grpc import EventStoreServiceAsyncStub
    from fundledger.projector.v1.projector_pb2_grpc import ProjectorServiceAsyncStub
    from fundledger.snapshotter.v1.snapshotter_pb2_grpc import SnapshotterServiceAsyncStub
    from fundledger.storage.v1.storage_pb2_grpc import StorageServiceAsyncStub

USER = "demo"
SOURCE = "fundledger-demo"
STEPS = 7
# Event ids derived from the fund id and the event's index: a retried append sends the same ids.
_EVENT_NAMESPACE = uuid.UUID("0c6f1f7e-5d3b-4b8e-9a59-3f1f2f0d7c21")
_RPC_TIMEOUT = 60.0
# How long step 4 waits for the snapshotter to catch up with year one (presentation only: the
# answer is exact either way; without a snapshot the snapshotter folds from the first event).
_SNAPSHOT_WAIT_SECONDS = 10.0
_SIGNED_URL_SECONDS = 3600

__all__ = ["DemoResult", "StackNotRunningError", "run_demo"]


@dataclass(frozen=True)
class DemoResult:
    """What the demo did, for tests and callers; the console got the human-readable version."""

    fund_id: str
    history: FundHistory
    appends: int
    history_version: int
    year_one_version: int
    # The business date of step 4: the end of the fund's first year's last day.
    year_one_effective_at: Timestamp
    current: state_pb2.FundState
    past: snapshotter_pb2.GetFundStateAtResponse
    preview: allocation_pb2.PreviewReallocationResponse
    commit: allocation_pb2.CommitReallocationResponse
    audit_event_id: str
    file: storage_pb2.FileRecord
    signed_url: str
    restated: Restated


def _event(fund_id: str, index: int, event: DemoEvent) -> EventData:
    data = EventData(
        event_id=str(uuid.uuid5(_EVENT_NAMESPACE, f"{fund_id}/{index}")),
        event_type=event.event_type,
        schema_version=event.schema_version,
        data=json.dumps(event.data, sort_keys=True, separators=(",", ":")).encode(),
        user_id=USER,
        source=SOURCE,
    )
    # Business time: the day it happened. The server records it now, long after.
    data.effective_at.FromDatetime(event.effective_at)
    return data


def _step(console: Console, number: int, title: str) -> None:
    console.print()
    console.rule(Text(f"Step {number}/{STEPS}  {title}", style="bold cyan"), align="left")


async def run_demo(
    stack_dir: Path, console: Console, *, seed: int = DEFAULT_SEED, batch_size: int = 400
) -> DemoResult:
    """Run every step against the stack in `stack_dir`; StackNotRunningError when none is."""
    endpoints = stack_endpoints(stack_dir)
    await check_serving(endpoints, credentials=health_credentials(stack_dir))
    console.print(f"FundLedger demo against the stack in {stack_dir}")
    channels = demo_channels(stack_dir, endpoints, USER)
    try:
        return await _run(
            console,
            seed,
            batch_size,
            eventstore_pb2_grpc.EventStoreServiceStub(channels["event-store"]),
            projector_pb2_grpc.ProjectorServiceStub(channels["projector"]),
            snapshotter_pb2_grpc.SnapshotterServiceStub(channels["snapshotter"]),
            allocation_pb2_grpc.AllocationServiceStub(channels["allocation"]),
            storage_pb2_grpc.StorageServiceStub(channels["storage"]),
        )
    finally:
        for channel in channels.values():
            await channel.close(None)


async def _run(
    console: Console,
    seed: int,
    batch_size: int,
    store: EventStoreServiceAsyncStub,
    projector: ProjectorServiceAsyncStub,
    snapshotter: SnapshotterServiceAsyncStub,
    allocation: AllocationServiceAsyncStub,
    storage: StorageServiceAsyncStub,
) -> DemoResult:
    # -- 1. generate ---------------------------------------------------------------------------
    history = generate_history(seed)
    terms = history.terms
    fund_uuid = uuid.uuid4()
    fund_id = f"fund-{fund_uuid}"
    _step(console, 1, "Generate two years of fund history (pure, seeded)")
    counts: dict[str, int] = {}
    for event in history.events:
        counts[event.event_type] = counts.get(event.event_type, 0) + 1
    console.print(
        f"{terms.name}: fund size {render.money(terms.committed_cents)} {terms.currency},"
        f" {len(history.companies)} companies, {terms.start} to {history.end},"
        f" {len(history.events):,} events (seed {seed})"
    )
    console.print("  " + ", ".join(f"{kind} {n:,}" for kind, n in counts.items()))

    # -- 2. append -----------------------------------------------------------------------------
    batches = quarter_batches(history, batch_size)
    _step(console, 2, f"Append to {fund_id} ({len(batches)} appends, expected versions)")
    started = time.monotonic()
    version, index = 0, 0
    year_one: eventstore_pb2.AppendToStreamResponse | None = None
    for batch in batches:
        events = [_event(fund_id, index + i, e) for i, e in enumerate(batch.events)]
        index += len(events)
        response = await store.AppendToStream(
            eventstore_pb2.AppendToStreamRequest(
                stream_id=fund_id,
                expected_version=version,
                events=events,
                idempotency_key=f"demo-{fund_uuid}-{index}",
            ),
            timeout=_RPC_TIMEOUT,
        )
        version = response.last_version
        if batch.events[-1].occurred_on <= history.year_one_end:
            year_one = response
        console.print(
            f"  {batch.label:<14} {f'v{response.first_version}..v{response.last_version}':<13}"
            f" {len(events):>4} events  effective {batch.events[0].occurred_on}"
            f"..{batch.events[-1].occurred_on}  recorded_at {response.recorded_at.ToJsonString()}"
        )
    if year_one is None:
        raise RuntimeError("the history has no events in its first year")
    console.print(f"appended {index:,} events in {time.monotonic() - started:.1f} s")

    # -- 3. current state ----------------------------------------------------------------------
    _step(console, 3, f"Current state (projector, read-your-writes at v{version})")
    now = await projector.GetFundState(
        projector_pb2.GetFundStateRequest(fund_id=fund_id, min_version=version),
        timeout=_RPC_TIMEOUT,
    )
    current = now.state
    console.print(render.fund_table([(f"now (v{current.version})", current)]))
    console.print(render.companies_table(current))
    console.print(render.variance_summary(current))

    # -- 4. time travel ------------------------------------------------------------------------
    at = Timestamp()
    at.FromDatetime(datetime.combine(history.year_one_end, END_OF_DAY))
    _step(console, 4, f"The fund on {history.year_one_end} (snapshotter, by business date)")
    console.print(
        f"effective_at = {at.ToJsonString()} (the end of that day), known now: every event"
        f" effective by then, v1..v{year_one.last_version}"
    )
    await _wait_for_snapshots(snapshotter, fund_id, year_one.last_version)
    past = await snapshotter.GetFundStateAt(
        snapshotter_pb2.GetFundStateAtRequest(fund_id=fund_id, effective_at=at),
        timeout=_RPC_TIMEOUT,
    )
    if past.snapshot_id:
        console.print(
            f"snapshot {past.snapshot_id} at v{past.snapshot_version}"
            f" + {past.events_replayed} events replayed from the log = v{past.version}"
        )
    else:
        console.print(f"no snapshot yet: {past.events_replayed} events folded from the first")
    console.print(
        render.fund_table(
            [
                (f"end of {history.year_one_end.year} (v{past.version})", past.state),
                (f"now (v{current.version})", current),
            ]
        )
    )

    # -- 5. reallocation -----------------------------------------------------------------------
    plan = propose(lines_from_proto(current), current.committed_cents)
    proposals = [
        allocation_pb2.Proposal(company_id=company_id, planned_reserves_cents=cents)
        for company_id, cents in plan.proposals
    ]
    _step(console, 5, "Reserve reallocation: preview, then commit")
    console.print(f"proposal at v{version}: {plan.reason}")
    preview = await allocation.PreviewReallocation(
        allocation_pb2.PreviewReallocationRequest(
            fund_id=fund_id, expected_version=version, proposals=proposals
        ),
        timeout=_RPC_TIMEOUT,
    )
    console.print(render.changes_table(preview.changes, preview.totals, "Preview"))
    console.print(f"findings ({len(preview.findings)}), commit allowed: {preview.commit_allowed}")
    for line in render.finding_lines(preview.findings):
        console.print(line)
    if not preview.commit_allowed:
        raise RuntimeError("the demo's proposal has blocking errors; nothing committed")
    commit = await allocation.CommitReallocation(
        allocation_pb2.CommitReallocationRequest(
            fund_id=fund_id,
            expected_version=version,
            proposals=proposals,
            reason=plan.reason,
            user_id=USER,
            idempotency_key=f"demo-reallocation-{fund_uuid}",
        ),
        timeout=_RPC_TIMEOUT,
    )
    audit = await allocation.ListReallocationAudit(
        allocation_pb2.ListReallocationAuditRequest(fund_id=fund_id, page_size=1),
        timeout=_RPC_TIMEOUT,
    )
    audit_id = audit.entries[0].event_id if audit.entries else ""
    console.print(
        f"committed: v{commit.baseline_version} -> v{commit.new_version}"
        f" ({len(commit.changes)} RESERVE_ALLOCATED + 1 REALLOCATION_COMMITTED in one append)"
    )
    console.print(f"audit entry: REALLOCATION_COMMITTED event {audit_id}")

    # -- 6. document ---------------------------------------------------------------------------
    _step(console, 6, "Upload the quarterly report and sign a download URL")
    period = f"{history.end.year}-Q{(history.end.month - 1) // 3 + 1}"
    content = quarterly_report_csv(current, period)
    name = f"{'-'.join(terms.name.lower().split())}-{period}.csv"
    record = await _upload(storage, fund_uuid, name, content)
    signed = await storage.GetSignedUrl(
        storage_pb2.GetSignedUrlRequest(
            file_id=record.file_id, expires_in_seconds=_SIGNED_URL_SECONDS
        ),
        timeout=_RPC_TIMEOUT,
    )
    console.print(f"file id    {record.file_id}")
    console.print(
        f"name       {record.file_name} ({record.content_type}, {record.size_bytes:,} bytes)"
    )
    console.print(f"sha256     {record.sha256}")
    console.print(f"object key {record.object_key}")
    console.print(f"signed URL (expires {signed.expire_time.ToJsonString()}):")
    # soft_wrap: the URL stays on one line, whatever the console width, so it can be copied.
    console.print(Text(signed.url), soft_wrap=True)

    # -- 7. restatement ------------------------------------------------------------------------
    # The last quarter end before the history's final quarter: Q3 of its second year.
    quarter_end = month_end(terms.start, terms.months - 4)
    _step(console, 7, f"A late write-down: the restatement of {quarter_end.year}-Q3")
    star = {plan.company_id for plan in history.companies if plan.star}
    restated = await restate(
        console, store, snapshotter, fund_id, quarter_end, user=USER, source=SOURCE, exclude=star
    )
    return DemoResult(
        fund_id=fund_id,
        history=history,
        appends=len(batches),
        history_version=version,
        year_one_version=year_one.last_version,
        year_one_effective_at=at,
        current=current,
        past=past,
        preview=preview,
        commit=commit,
        audit_event_id=audit_id,
        file=record,
        signed_url=signed.url,
        restated=restated,
    )


async def _wait_for_snapshots(
    snapshotter: SnapshotterServiceAsyncStub, fund_id: str, version: int
) -> None:
    """Give the snapshotter (which follows the bus) a moment to snapshot past `version`."""
    deadline = time.monotonic() + _SNAPSHOT_WAIT_SECONDS
    while time.monotonic() < deadline:
        page = await snapshotter.ListSnapshots(
            snapshotter_pb2.ListSnapshotsRequest(fund_id=fund_id, page_size=1),
            timeout=_RPC_TIMEOUT,
        )
        if page.snapshots and page.snapshots[0].version >= version:
            return
        await asyncio.sleep(0.2)


async def _upload(
    storage: StorageServiceAsyncStub, fund_uuid: uuid.UUID, name: str, content: bytes
) -> storage_pb2.FileRecord:
    metadata = storage_pb2.FileMetadata(
        owner_user_id=USER,
        entity_type="fund",
        entity_id=str(fund_uuid),
        file_name=name,
        content_type="text/csv",
        expected_sha256=hashlib.sha256(content).hexdigest(),
    )

    async def requests() -> AsyncIterator[storage_pb2.UploadFileRequest]:
        yield storage_pb2.UploadFileRequest(metadata=metadata)
        for offset in range(0, len(content), 64 * 1024):
            yield storage_pb2.UploadFileRequest(chunk=content[offset : offset + 64 * 1024])

    response = await storage.UploadFile(requests(), timeout=_RPC_TIMEOUT)
    return response.file
