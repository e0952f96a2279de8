"""Phase `funds`, business time (issue 12): GetFundStateAt with an effective date and a known time.

Its own funds (the phase's are asserted at exact versions elsewhere): FUNDS funds of
EVENTS_PER_FUND events, appended in batches with distinct effective times (one hour apart per
version, in the past), so that "as of the effective time of v49 / v99, known now" selects
exactly v1..v49 / v1..v99: 49 events replayed (from nothing, or from the v50 count snapshot),
as the recorded-time figure `stateat` replays 49. Target: p99 within 1.2x that figure's p99 in
the same run (issue 12).
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import grpc
from fundledger.eventstore.v1 import eventstore_pb2 as pb
from fundledger.eventstore.v1 import eventstore_pb2_grpc
from fundledger.snapshotter.v1 import snapshotter_pb2 as spb
from fundledger.snapshotter.v1 import snapshotter_pb2_grpc

from tests.bench.fund_events import EVENTS_PER_FUND, history
from tests.bench.fund_seed import fund_ids, wait_snapshots
from tests.bench.transport import open_channel
from tests.bench.workload_spec import CALL_TIMEOUT, Call, Workload

if TYPE_CHECKING:
    from tests.bench.checks import Check
    from tests.bench.measure import Figure
    from tests.bench.phases import Phases

TIME_TRAVEL_KINDS = frozenset({"stateat-two"})
FUNDS = 16
BATCH = 25
READY_SECONDS = 120.0
VERSIONS = (49, 99)
SNAPSHOT_EVERY = 50
# Effective time of version v: BASE + v hours (all in the past: the event store refuses
# effective times after the commit time by default).
BASE = datetime(2025, 1, 1, tzinfo=UTC)


def effective(version: int) -> datetime:
    return BASE + timedelta(hours=version)


async def time_travel_rows(p: Phases, snapshotter: str) -> None:
    """Seeds the funds, waits for their count snapshots, measures c1 and c16."""
    funds = fund_ids(f"{p.tag}-effective", FUNDS)
    async with open_channel(p.stack.eventstore) as channel:
        stub = eventstore_pb2_grpc.EventStoreServiceStub(channel)
        for index, fund_id in enumerate(funds):
            events = history(index)
            for version, event in enumerate(events, start=1):
                event.effective_at.FromDatetime(effective(version))
            for start in range(0, EVENTS_PER_FUND, BATCH):
                request = pb.AppendToStreamRequest(
                    stream_id=fund_id, events=events[start : start + BATCH]
                )
                await stub.AppendToStream(request, timeout=CALL_TIMEOUT)
    await wait_snapshots(
        snapshotter, funds, (SNAPSHOT_EVERY, 2 * SNAPSHOT_EVERY), READY_SECONDS, p.log
    )
    work = p.work("stateat-two", snapshotter, funds=funds, versions=VERSIONS)
    for c in (1, 16):
        label = f"GetFundStateAt effective v49/v99 time, known now (49 events replayed), c{c}"
        await p.meter.measure(f"stateat-two.c{c}", label, work, c)


@contextlib.asynccontextmanager
async def open_time_travel_workload(work: Workload) -> AsyncIterator[Call]:
    async with open_channel(work.endpoint, plaintext=work.plaintext) as channel:
        yield _state_at_two(channel, work)


def _state_at_two(channel: grpc.aio.Channel, work: Workload) -> Call:
    stub = snapshotter_pb2_grpc.SnapshotterServiceStub(channel)
    rng = random.Random()

    async def call(client: int) -> None:
        version = rng.choice(work.versions)
        request = spb.GetFundStateAtRequest(fund_id=rng.choice(work.funds))
        request.effective_at.FromDatetime(effective(version))
        request.known_at.GetCurrentTime()
        response = await stub.GetFundStateAt(request, timeout=CALL_TIMEOUT)
        if response.version != version or response.events_replayed != version % SNAPSHOT_EVERY:
            raise RuntimeError(
                f"effective v{version}: answered v{response.version} from snapshot "
                f"v{response.snapshot_version} + {response.events_replayed} events"
            )

    return call


def time_travel_checks(figures: Mapping[str, Figure]) -> Sequence[Check]:
    """Issue 12: the two-clock answer's p99 within 1.2x the recorded-time one's (same run)."""
    # Here, not at the top: checks imports measure, which imports the workloads (and this).
    from tests.bench.checks import p99_ratio

    return [
        p99_ratio(
            figures,
            "stateat-two.c1",
            "stateat.c1",
            1.2,
            "GetFundStateAt with effective date and known time, 49 events replayed, c1",
            12,
        )
    ]
