"""Loads the funds through the event store, then waits (bounded) until the projector
has every fund at its last version and the snapshotter has its every-50 snapshots.

Unlike the bulk loader's history these events go through AppendToStream, the
relay and the bus, as real ones do, so they are stamped now.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Sequence

import grpc
from fundledger.eventstore.v1 import eventstore_pb2_grpc
from fundledger.projector.v1 import projector_pb2 as ppb
from fundledger.projector.v1 import projector_pb2_grpc
from fundledger.snapshotter.v1 import snapshotter_pb2 as spb
from fundledger.snapshotter.v1 import snapshotter_pb2_grpc

from tests.bench.fund_events import EVENTS_PER_FUND, seeding_requests
from tests.bench.transport import open_channel
from tests.bench.workload_spec import CALL_TIMEOUT

SEED_CONCURRENCY = 8
POLL_SECONDS = 0.5


class NotReadyError(Exception):
    pass


def fund_ids(tag: str, count: int) -> tuple[str, ...]:
    return tuple(f"fund-{uuid.uuid5(uuid.NAMESPACE_URL, f'{tag}-{i}')}" for i in range(count))


async def seed_funds(store: str, funds: Sequence[str]) -> float:
    """Appends every fund's history; returns the seconds it took."""
    started = time.monotonic()
    queue = [(fund_id, i) for i, fund_id in enumerate(funds)]
    async with open_channel(store) as channel:
        stub = eventstore_pb2_grpc.EventStoreServiceStub(channel)

        async def worker() -> None:
            while queue:
                fund_id, index = queue.pop()
                for request in seeding_requests(fund_id, index):
                    await stub.AppendToStream(request, timeout=CALL_TIMEOUT)

        await asyncio.gather(*(worker() for _ in range(SEED_CONCURRENCY)))
    return time.monotonic() - started


async def wait_projected(projector: str, funds: Sequence[str], within: float) -> float:
    """Until GetFundState shows every fund at EVENTS_PER_FUND; returns the seconds waited."""
    started = time.monotonic()
    async with open_channel(projector) as channel:
        stub = projector_pb2_grpc.ProjectorServiceStub(channel)
        for fund_id in funds:
            left = within - (time.monotonic() - started)
            if left <= 0:
                raise NotReadyError(f"projector: {fund_id} not at v{EVENTS_PER_FUND} in time")
            request = ppb.GetFundStateRequest(fund_id=fund_id, min_version=EVENTS_PER_FUND)
            try:
                await stub.GetFundState(request, timeout=min(left, 30.0))
            except grpc.aio.AioRpcError as err:
                raise NotReadyError(f"projector: {fund_id}: {err.code().name}") from None
    return time.monotonic() - started


async def wait_snapshots(
    snapshotter: str,
    funds: Sequence[str],
    versions: Sequence[int],
    within: float,
    log: Callable[[str], None],
) -> float:
    """Until ListSnapshots shows `versions` for every fund; returns the seconds waited."""
    started = time.monotonic()
    missing = list(funds)
    async with open_channel(snapshotter) as channel:
        stub = snapshotter_pb2_grpc.SnapshotterServiceStub(channel)
        for _ in range(int(within / POLL_SECONDS) + 1):
            still = []
            for fund_id in missing:
                page = await stub.ListSnapshots(
                    spb.ListSnapshotsRequest(fund_id=fund_id, page_size=100),
                    timeout=CALL_TIMEOUT,
                )
                if not set(versions) <= {s.version for s in page.snapshots}:
                    still.append(fund_id)
            missing = still
            if not missing:
                return time.monotonic() - started
            if time.monotonic() - started >= within:
                break
            await asyncio.sleep(POLL_SECONDS)
    log(f"  {len(missing)} funds still without snapshots at {list(versions)}")
    raise NotReadyError(f"snapshotter: {len(missing)} funds without their every-50 snapshots")
