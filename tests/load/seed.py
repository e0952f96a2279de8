"""Loads the data a load run needs, before locust starts, in a process of its own.

Read funds: the fund history of tests/bench/fund_events.py (FUND_CREATED, 10 companies,
investments and valuations, 100 events) appended in batches of 25, plus manual snapshots
between the every-50 ones, so time travel always has a base near its target. Per virtual
user: its own fund (10 companies with planned reserves) and a documents fund. Then it
waits, bounded, until the projector has every fund at its last version (GetFundState with
min_version) and the snapshotter has the read funds' every-50 snapshots, so the run does
not start while the services are still digesting the seed.

Run alone: `python -m tests.load.seed --endpoints .stack/endpoints.json --users 100`. A secure
stack (the endpoints file's folder holds its CA and dev issuer) is called over TLS with an
admin's dev token (tests/load/access.py).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import grpc
from fundledger.eventstore.v1 import events_pb2, eventstore_pb2_grpc
from fundledger.eventstore.v1 import eventstore_pb2 as es
from fundledger.projector.v1 import projector_pb2 as ppb
from fundledger.projector.v1 import projector_pb2_grpc
from fundledger.snapshotter.v1 import snapshotter_pb2 as spb
from fundledger.snapshotter.v1 import snapshotter_pb2_grpc
from fundledger_devstack.endpoints import read_endpoints_file

from tests.bench.fund_events import (
    COMMITTED_CENTS,
    COMPANIES,
    EVENTS_PER_FUND,
    company_id,
    fund_event,
    seeding_requests,
)
from tests.bench.fund_seed import NotReadyError
from tests.bench.workload_spec import CALL_TIMEOUT
from tests.load.access import SEED_SUBJECT, aio_channel, credentials_for, security_of
from tests.load.seed_data import ReadFund, SeedData, UserSlot

CONCURRENCY = 8
MANUAL_SNAPSHOTS = (25, 75)  # between the every-50 ones the snapshotter makes itself
AUTO_SNAPSHOTS = (50, 100)
RESERVE_CENTS = 2_000_000_00  # per company: 10 x 2M of a 250M fund, no blocking finding
WAIT_POLL = 0.5

Log = Callable[[str], None]


def new_fund_id() -> str:
    return f"fund-{uuid.uuid4()}"


def user_fund_events(index: int) -> list[events_pb2.EventData]:
    created = {
        "name": f"Load Fund {index}",
        "committed_capital_cents": COMMITTED_CENTS,
        "currency": "USD",
        "vintage_year": 2025,
    }
    events = [fund_event("FUND_CREATED", created, user="load")]
    for c in range(COMPANIES):
        added = {
            "company_id": company_id(c),
            "name": f"Company {c}",
            "allocation_cap_cents": 40_000_000_00,
        }
        events.append(fund_event("COMPANY_ADDED", added, user="load"))
    for c in range(COMPANIES):
        reserve = {"company_id": company_id(c), "planned_reserves_cents": RESERVE_CENTS}
        events.append(fund_event("RESERVE_ALLOCATED", reserve, user="load"))
    return events


async def _bounded(jobs: Iterable[Awaitable[Any]], limit: int = CONCURRENCY) -> list[Any]:
    gate = asyncio.Semaphore(limit)

    async def one(job: Awaitable[Any]) -> Any:
        async with gate:
            return await job

    return list(await asyncio.gather(*(one(j) for j in jobs)))


async def _read_fund(store: Any, snapshots: Any, index: int) -> ReadFund:
    fund_id = new_fund_id()
    times = []
    for request in seeding_requests(fund_id, index):
        response = await store.AppendToStream(request, timeout=CALL_TIMEOUT)
        times.append(response.recorded_at.ToJsonString())
    for version in MANUAL_SNAPSHOTS:
        snapshot = spb.CreateSnapshotRequest(fund_id=fund_id, at_version=version)
        await snapshots.CreateSnapshot(snapshot, timeout=CALL_TIMEOUT)
    return ReadFund(fund_id, EVENTS_PER_FUND, tuple(times))


async def _user_slot(store: Any, index: int) -> UserSlot:
    fund_id = new_fund_id()
    response = await store.AppendToStream(
        es.AppendToStreamRequest(
            stream_id=fund_id,
            expected_state=es.STREAM_STATE_NO_STREAM,
            events=user_fund_events(index),
        ),
        timeout=CALL_TIMEOUT,
    )
    docs = str(uuid.uuid4())
    await store.AppendToStream(
        es.AppendToStreamRequest(
            stream_id=f"fund-{docs}",
            expected_state=es.STREAM_STATE_NO_STREAM,
            events=[
                fund_event(
                    "FUND_CREATED",
                    {
                        "name": f"Load Documents {index}",
                        "committed_capital_cents": 1,
                        "currency": "USD",
                    },
                    user="load",
                )
            ],
        ),
        timeout=CALL_TIMEOUT,
    )
    companies = tuple(company_id(c) for c in range(COMPANIES))
    return UserSlot(fund_id, int(response.last_version), companies, docs)


async def _wait_projected(projector: Any, fund_id: str, version: int, deadline: float) -> None:
    """GetFundState(min_version) until it answers, or NotReadyError at the deadline."""
    request = ppb.GetFundStateRequest(fund_id=fund_id, min_version=version)
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise NotReadyError(f"projector: {fund_id} not at v{version} in time")
        try:
            await projector.GetFundState(request, timeout=min(left, 30.0))
            return
        except grpc.aio.AioRpcError as err:
            if err.code() not in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.NOT_FOUND):
                raise
        await asyncio.sleep(min(WAIT_POLL, max(0.0, deadline - time.monotonic())))


async def _wait_snapshots(
    snapshots: Any, funds: list[str], versions: tuple[int, ...], within: float, log: Log
) -> None:
    """Until ListSnapshots shows `versions` for every fund; NotReadyError after `within` s."""
    started = time.monotonic()
    missing = list(funds)
    for _ in range(int(within / WAIT_POLL) + 1):
        still = []
        for fund_id in missing:
            page = await snapshots.ListSnapshots(
                spb.ListSnapshotsRequest(fund_id=fund_id, page_size=100), timeout=CALL_TIMEOUT
            )
            if not set(versions) <= {s.version for s in page.snapshots}:
                still.append(fund_id)
        missing = still
        if not missing or time.monotonic() - started >= within:
            break
        await asyncio.sleep(WAIT_POLL)
    if missing:
        log(f"  {len(missing)} funds still without snapshots at {list(versions)}")
        raise NotReadyError(f"snapshotter: {len(missing)} funds without their every-50 snapshots")


async def seed(
    endpoints: dict[str, str],
    users: int,
    read_funds: int,
    *,
    stack_dir: Path | None = None,
    within: float = 180.0,
    log: Log = print,
) -> SeedData:
    """Seeds `read_funds` shared funds and `users` user slots; returns what was seeded.

    `stack_dir`: the stack's folder when it is secure (TLS and dev tokens from it)."""
    started = time.monotonic()
    credentials = credentials_for(security_of(stack_dir), SEED_SUBJECT)
    async with (
        aio_channel(endpoints["event-store"], credentials) as a,
        aio_channel(endpoints["projector"], credentials) as b,
        aio_channel(endpoints["snapshotter"], credentials) as c,
    ):
        # Any: the generated stubs are typed for the sync API.
        store: Any = eventstore_pb2_grpc.EventStoreServiceStub(a)
        projector: Any = projector_pb2_grpc.ProjectorServiceStub(b)
        snapshots: Any = snapshotter_pb2_grpc.SnapshotterServiceStub(c)
        shared = await _bounded(_read_fund(store, snapshots, i) for i in range(read_funds))
        slots = await _bounded(_user_slot(store, i) for i in range(users))
        log(
            f"seeded {read_funds} read funds ({EVENTS_PER_FUND} events each) and {users} user "
            f"funds in {time.monotonic() - started:.1f}s"
        )
        deadline = started + within
        targets = [(f.fund_id, f.version) for f in shared] + [(s.fund_id, s.version) for s in slots]
        await _bounded(_wait_projected(projector, f, v, deadline) for f, v in targets)
        left = max(1.0, deadline - time.monotonic())
        try:
            await _wait_snapshots(snapshots, [f.fund_id for f in shared], AUTO_SNAPSHOTS, left, log)
        except NotReadyError as err:  # a stack with another snapshot interval: go on
            log(f"warning: {err}")
    log(f"projector and snapshotter caught up after {time.monotonic() - started:.1f}s")
    secured = "" if credentials is None else str(stack_dir)
    return SeedData(uuid.uuid4().hex[:8], dict(endpoints), tuple(shared), tuple(slots), secured)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.load.seed", description=__doc__)
    parser.add_argument("--endpoints", type=Path, required=True, help="an endpoints.json")
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--read-funds", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path(".loadtest/seed.json"))
    args = parser.parse_args(argv)
    endpoints = read_endpoints_file(args.endpoints)
    stack_dir = args.endpoints.absolute().parent
    data = asyncio.run(seed(endpoints, args.users, args.read_funds, stack_dir=stack_dir))
    data.write(args.out)
    print(f"seed written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
