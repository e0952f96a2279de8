"""One call of each fund-service figure (issue 3): projector reads, time travel,
manual snapshots, and an append until the projector shows it."""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import AsyncIterator, Iterator, Sequence

import grpc
from fundledger.eventstore.v1 import eventstore_pb2 as pb
from fundledger.eventstore.v1 import eventstore_pb2_grpc
from fundledger.projector.v1 import projector_pb2 as ppb
from fundledger.projector.v1 import projector_pb2_grpc
from fundledger.snapshotter.v1 import snapshotter_pb2 as spb
from fundledger.snapshotter.v1 import snapshotter_pb2_grpc

from tests.bench.fund_events import valuation
from tests.bench.transport import open_channel, open_channels
from tests.bench.workload_spec import CALL_TIMEOUT, Call, Workload, spread

FUND_KINDS = frozenset({"fundstate", "stateat", "snapshot", "visible", "visible-lag"})
SNAPSHOT_EVERY = 50  # the snapshotter's default SNAPSHOT_EVERY_EVENTS


@contextlib.asynccontextmanager
async def open_fund_workload(work: Workload, clients: Sequence[int]) -> AsyncIterator[Call]:
    if work.kind == "fundstate" and work.connections > 1:
        async with open_channels(
            work.endpoint, work.connections, plaintext=work.plaintext
        ) as channels:
            yield spread([_fund_state(channel, work) for channel in channels])
        return
    async with open_channel(work.endpoint, plaintext=work.plaintext) as channel:
        if work.kind == "fundstate":
            yield _fund_state(channel, work)
        elif work.kind == "stateat":
            yield _state_at(channel, work)
        elif work.kind == "snapshot":
            yield _snapshot(channel, work, clients)
        else:
            async with open_channel(work.store, plaintext=work.plaintext) as store:
                yield _visible(channel, store, work)


def _fund_state(channel: grpc.aio.Channel, work: Workload) -> Call:
    stub = projector_pb2_grpc.ProjectorServiceStub(channel)
    rng = random.Random()

    async def call(client: int) -> None:
        request = ppb.GetFundStateRequest(fund_id=rng.choice(work.funds))
        response = await stub.GetFundState(request, timeout=CALL_TIMEOUT)
        if response.state.version < 1:
            raise RuntimeError("GetFundState answered an empty fund")

    return call


def _state_at(channel: grpc.aio.Channel, work: Workload) -> Call:
    """At a version just below a multiple of 50: the snapshot below it plus 49 events."""
    stub = snapshotter_pb2_grpc.SnapshotterServiceStub(channel)
    rng = random.Random()

    async def call(client: int) -> None:
        version = rng.choice(work.versions)
        request = spb.GetFundStateAtRequest(fund_id=rng.choice(work.funds), at_version=version)
        response = await stub.GetFundStateAt(request, timeout=CALL_TIMEOUT)
        if response.version != version or response.events_replayed != version % SNAPSHOT_EVERY:
            raise RuntimeError(
                f"v{version}: answered v{response.version} from snapshot "
                f"v{response.snapshot_version} + {response.events_replayed} events"
            )

    return call


def _snapshot_targets(work: Workload, client: int) -> Iterator[tuple[str, int]]:
    """This client's (fund, version) pairs: its own share of the funds, no pair twice.

    Versions go down within each 50-event block (99, 98, ... 51, 49, ... 1) and the
    client's funds take turns, so each snapshot is folded from the count snapshot
    below it (or from nothing) plus v mod 50 events — as a manual snapshot at a
    fund's current version would be — never from the manual one just taken above it.
    """
    mine = work.funds[client % work.clients_total :: work.clients_total]
    for version in work.versions:
        for fund_id in mine:
            yield fund_id, version


def _snapshot(channel: grpc.aio.Channel, work: Workload, clients: Sequence[int]) -> Call:
    stub = snapshotter_pb2_grpc.SnapshotterServiceStub(channel)
    targets = {client: _snapshot_targets(work, client) for client in clients}

    async def call(client: int) -> None:
        found = next(targets[client], None)
        if found is None:
            raise RuntimeError("no (fund, version) left to snapshot")
        fund_id, version = found
        request = spb.CreateSnapshotRequest(fund_id=fund_id, at_version=version)
        snapshot = (await stub.CreateSnapshot(request, timeout=CALL_TIMEOUT)).snapshot
        if snapshot.trigger != spb.SNAPSHOT_TRIGGER_MANUAL or snapshot.version != version:
            raise RuntimeError(f"{fund_id} v{version}: a snapshot was there already")

    return call


def _visible(channel: grpc.aio.Channel, store: grpc.aio.Channel, work: Workload) -> Call:
    """Append one event to the client's fund, then GetFundState with min_version = its
    version (the projector answers once it has applied it). "visible" times the whole
    call; "visible-lag" only from the append's acknowledgement."""
    projector = projector_pb2_grpc.ProjectorServiceStub(channel)
    events = eventstore_pb2_grpc.EventStoreServiceStub(store)
    counter = 0

    async def call(client: int) -> float | None:
        nonlocal counter
        counter += 1
        fund_id = work.funds[client % len(work.funds)]
        append = pb.AppendToStreamRequest(stream_id=fund_id, events=[valuation(counter)])
        appended = await events.AppendToStream(append, timeout=CALL_TIMEOUT)
        acked = time.perf_counter()
        request = ppb.GetFundStateRequest(fund_id=fund_id, min_version=appended.last_version)
        response = await projector.GetFundState(request, timeout=CALL_TIMEOUT)
        if response.state.version < appended.last_version:
            raise RuntimeError("GetFundState answered below min_version")
        return time.perf_counter() - acked if work.kind == "visible-lag" else None

    return call
