"""Latency of PreviewReallocation and CommitReallocation on a fund of 50 companies.

Not a test (no test_ prefix): a tool. Issue targets: preview p99 <= 20 ms, commit p99 <= 40 ms.

    await run("127.0.0.1:50054", 20.0)          # a running stack (event store found beside it)
    python services/allocation/tests/allocation_bench.py 20   # a throwaway in-process stack
    python services/allocation/tests/allocation_bench.py 20 --processes   # one process each

Each request carries the fund's full table (50 rows, as a UI sends it) of which `changed` rows
differ from the current amounts. Requests are sent one at a time (closed loop, concurrency 1),
so the figures are service latency, not queueing. Commits chain: each is made against the
version the previous one returned, so every commit lands (a conflict would be a bug here).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
from fundledger.allocation.v1 import allocation_pb2 as pb
from fundledger.allocation.v1 import allocation_pb2_grpc
from fundledger.eventstore.v1 import events_pb2, eventstore_pb2_grpc
from fundledger.eventstore.v1 import eventstore_pb2 as es

REPO_ROOT = Path(__file__).resolve().parents[3]
TARGETS_MS = {"preview": 20.0, "commit": 40.0}
WARMUP_REQUESTS = 20
FUND_SIZE_CENTS = 500_000_000_00  # 500,000,000.00: the bench's reserves stay below 50 %


def _eventstore_beside(address: str) -> str:
    """The event store of the stack `address` belongs to: .stack/endpoints.json, else default."""
    endpoints = REPO_ROOT / ".stack" / "endpoints.json"
    if endpoints.exists():
        found = json.loads(endpoints.read_text())
        if found.get("allocation") == address and "event-store" in found:
            return str(found["event-store"])
    return "127.0.0.1:50051"


def _stats(samples_ms: list[float]) -> dict[str, Any]:
    ordered = sorted(samples_ms)

    def rank(q: float) -> float:  # nearest-rank percentile
        return round(ordered[max(0, min(len(ordered) - 1, int(q * len(ordered) + 0.5) - 1))], 3)

    return {
        "count": len(ordered),
        "p50_ms": rank(0.50),
        "p99_ms": rank(0.99),
        "max_ms": round(ordered[-1], 3),
        "mean_ms": round(sum(ordered) / len(ordered), 3),
    }


def _event(event_type: str, data: dict[str, Any]) -> events_pb2.EventData:
    return events_pb2.EventData(event_type=event_type, data=json.dumps(data).encode())


async def _seed(
    store: Any, fund_id: str, companies: int, rng: random.Random
) -> tuple[int, dict[str, int]]:
    """A fund of `companies` companies with planned reserves; returns its version and amounts."""
    planned = {
        f"company-{i:03d}": rng.randrange(1_000_000, 5_000_000) * 100 for i in range(companies)
    }
    opening = _event(
        "FUND_CREATED",
        {"name": "Bench Fund", "committed_capital_cents": FUND_SIZE_CENTS, "currency": "USD"},
    )
    added = [_event("COMPANY_ADDED", {"company_id": c, "name": c.title()}) for c in planned]
    reserves = [
        _event("RESERVE_ALLOCATED", {"company_id": c, "planned_reserves_cents": cents})
        for c, cents in planned.items()
    ]
    version = 0
    for batch in ([opening, *added], reserves):  # two appends: within any store's batch limit
        response = await store.AppendToStream(
            es.AppendToStreamRequest(stream_id=fund_id, events=batch)
        )
        version = int(response.last_version)
    return version, planned


def _table(planned: dict[str, int], changed: int, rng: random.Random) -> list[pb.Proposal]:
    """The full table with `changed` rows moved (and `planned` updated to match)."""
    for company_id in rng.sample(sorted(planned), changed):
        planned[company_id] = rng.randrange(1_000_000, 5_000_000) * 100
    return [pb.Proposal(company_id=c, planned_reserves_cents=a) for c, a in planned.items()]


async def _timed(
    seconds: float, call: Callable[[], Awaitable[None]], warmup: int = WARMUP_REQUESTS
) -> list[float]:
    for _ in range(warmup):
        await call()
    samples: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def run(
    address: str,
    seconds: float,
    *,
    eventstore_address: str | None = None,
    companies: int = 50,
    changed: int = 5,
    seed: int = 7,
) -> dict[str, Any]:
    """Preview for half of `seconds`, commit for the other half; latencies in milliseconds."""
    rng = random.Random(seed)
    store_address = eventstore_address or _eventstore_beside(address)
    fund_id = f"fund-bench-{uuid.uuid4()}"
    async with (
        grpc.aio.insecure_channel(address) as channel,
        grpc.aio.insecure_channel(store_address) as store_channel,
    ):
        api: Any = allocation_pb2_grpc.AllocationServiceStub(channel)
        store: Any = eventstore_pb2_grpc.EventStoreServiceStub(store_channel)
        version, planned = await _seed(store, fund_id, companies, rng)
        table = _table(dict(planned), changed, rng)

        async def preview() -> None:
            response = await api.PreviewReallocation(
                pb.PreviewReallocationRequest(
                    fund_id=fund_id, expected_version=version, proposals=table
                )
            )
            assert response.commit_allowed, list(response.findings)

        previews = await _timed(seconds / 2, preview)

        async def commit() -> None:
            nonlocal version
            response = await api.CommitReallocation(
                pb.CommitReallocationRequest(
                    fund_id=fund_id,
                    expected_version=version,
                    proposals=_table(planned, changed, rng),
                    reason="bench",
                    user_id="bench",
                    idempotency_key=str(uuid.uuid4()),
                )
            )
            version = int(response.new_version)

        commits = await _timed(seconds / 2, commit)

    result: dict[str, Any] = {
        "fund_id": fund_id,
        "companies": companies,
        "changed_rows_per_request": changed,
        "fund_version_at_end": version,
        "preview": _stats(previews),
        "commit": _stats(commits),
        "targets_p99_ms": TARGETS_MS,
    }
    result["within_targets"] = all(
        result[name]["p99_ms"] <= target for name, target in TARGETS_MS.items()
    )
    return result


@contextlib.contextmanager
def _backends() -> Iterator[tuple[str, str, Path]]:
    """A throwaway PostgreSQL and NATS on free ports: (database url, NATS url, temp dir)."""
    from fundledger_devstack.nats import NatsServer
    from fundledger_devstack.ports import free_port
    from fundledger_devstack.postgres import PostgresServer

    with tempfile.TemporaryDirectory(prefix="allocation-bench-") as tmp:
        pg = PostgresServer(Path(tmp) / "pg", free_port())
        nats = NatsServer(Path(tmp) / "nats", free_port(), free_port())
        with pg, nats:
            yield pg.create_database("bench"), nats.url, Path(tmp)


async def run_in_process(seconds: float) -> dict[str, Any]:
    """The event store and allocation in this process (one event loop, with the client): run()."""
    sys.path.insert(0, str(REPO_ROOT))  # for tests.support when run as a script
    from allocation.bootstrap import build as build_allocation
    from allocation_stack import allocation_settings
    from eventstore.bootstrap import build as build_store
    from eventstore.bootstrap import migrate
    from eventstore.domain.commands import Limits

    from tests.support.event_store import eventstore_settings

    with _backends() as (dsn, nats_url, _):
        await migrate(dsn)
        # The event store's production limits, not the tests' smaller ones.
        store = await build_store(eventstore_settings(dsn, nats_url, limits=Limits()))
        await store.server.start()
        try:
            allocation = build_allocation(allocation_settings(store.server.address))
            await allocation.server.start()
            try:
                return await run(
                    allocation.server.address, seconds, eventstore_address=store.server.address
                )
            finally:
                await allocation.server.stop(1.0)
        finally:
            await store.server.stop(1.0)


async def run_in_processes(seconds: float) -> dict[str, Any]:
    """The event store and allocation as their own processes (`python -m ...`), as deployed."""
    from fundledger_devstack.ports import free_port
    from fundledger_devstack.services import Backends, ServiceProcess, ServiceSpec

    with _backends() as (dsn, nats_url, tmp):
        ports = {name: (free_port(), free_port()) for name in ("store", "allocation")}
        backends = Backends(dsn, nats_url, "", "", "", f"127.0.0.1:{ports['store'][0]}")
        started: list[ServiceProcess] = []
        try:
            for name, spec in (
                ("store", ServiceSpec("event-store", "eventstore", *ports["store"])),
                ("allocation", ServiceSpec("allocation", "allocation", *ports["allocation"])),
            ):
                service = ServiceProcess(spec, *ports[name], backends, tmp / "logs")
                started.append(service)
                service.start()
                await asyncio.to_thread(service.wait_ready)
            return await run(started[1].address, seconds, eventstore_address=started[0].address)
        finally:
            for service in reversed(started):
                service.stop()


if __name__ == "__main__":
    duration = float(sys.argv[1]) if len(sys.argv) > 1 else 20.0
    runner = run_in_processes if "--processes" in sys.argv else run_in_process
    print(json.dumps(asyncio.run(runner(duration)), indent=2))
