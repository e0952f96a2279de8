"""Read-your-writes across workers: a projector run as two workers, of which only worker 0
follows the bus. A GetFundState asking for the version just appended is answered with at
least that version by whichever worker takes the connection — the other one finds it by
reading the fund's row again (FUNDLEDGER_PROJECTOR_WAIT_POLL_SECONDS), never by answering
an older state."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from fundledger.eventstore.v1 import events_pb2, eventstore_pb2_grpc
from fundledger.eventstore.v1 import eventstore_pb2 as pb
from fundledger.projector.v1 import projector_pb2 as ppb
from fundledger.projector.v1 import projector_pb2_grpc
from fundledger_devstack.nats import NatsServer
from fundledger_devstack.proc_sockets import ESTABLISHED, owners, sockets
from fundledger_devstack.process import child_pids
from worker_processes import (
    WAIT_SECONDS,
    Service,
    environment,
    start,
    stop,
)

ROUNDS = 30
READERS = 4  # fresh connections per round, each asking for the version just appended


def _event(event_type: str, data: dict[str, Any]) -> events_pb2.EventData:
    return events_pb2.EventData(
        event_type=event_type, schema_version=1, data=json.dumps(data).encode()
    )


CREATED = _event(
    "FUND_CREATED",
    {
        "name": "Workers Fund",
        "committed_capital_cents": 100_000_000_00,
        "currency": "USD",
        "vintage_year": 2024,
    },
)
ADDED = _event(
    "COMPANY_ADDED",
    {
        "company_id": "company-1",
        "name": "Company 1",
        "allocation_cap_cents": 10_000_000_00,
        "sector": "software",
    },
)


def _valuation(cents: int) -> events_pb2.EventData:
    return _event("VALUATION_UPDATED", {"company_id": "company-1", "valuation_cents": cents})


@pytest.fixture
async def services(
    fresh_dsn: str, nats_server: NatsServer, tmp_path: Path
) -> AsyncIterator[tuple[Service, Service]]:
    one = environment(fresh_dsn, nats_server.url, FUNDLEDGER_WORKERS="1")
    store = await start("eventstore", one, tmp_path)
    projector: Service | None = None
    try:
        await store.serving(1)
        projector = await start(
            "projector",
            environment(
                fresh_dsn,
                nats_server.url,
                FUNDLEDGER_EVENTSTORE_ADDRESS=f"127.0.0.1:{store.port}",
            ),
            tmp_path,
        )
        await projector.serving(2)
        yield store, projector
    finally:
        if projector is not None:
            await stop(projector)
        await stop(store)


def _connect(port: int) -> grpc.aio.Channel:
    # Its own connection: the kernel picks the worker (channels of one process share one
    # connection otherwise).
    return grpc.aio.insecure_channel(
        f"127.0.0.1:{port}", options=[("grpc.use_local_subchannel_pool", 1)]
    )


async def _read_at_least(channel: grpc.aio.Channel, fund_id: str, version: int) -> int:
    stub = projector_pb2_grpc.ProjectorServiceStub(channel)
    request = ppb.GetFundStateRequest(fund_id=fund_id, min_version=version)
    response = await stub.GetFundState(request, timeout=WAIT_SECONDS)
    return int(response.state.version)


async def test_every_worker_answers_the_version_just_appended(
    services: tuple[Service, Service],
) -> None:
    store, projector = services
    workers = child_pids(projector.process.pid)
    assert len(workers) == 2
    fund_id = f"fund-{uuid.uuid4()}"
    taken = dict.fromkeys(workers, 0)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{store.port}") as channel:
        appends = eventstore_pb2_grpc.EventStoreServiceStub(channel)
        request = pb.AppendToStreamRequest(stream_id=fund_id, events=[CREATED, ADDED])
        await appends.AppendToStream(request, timeout=WAIT_SECONDS)
        for round_ in range(ROUNDS):
            appended = await appends.AppendToStream(
                pb.AppendToStreamRequest(stream_id=fund_id, events=[_valuation(100 + round_)]),
                timeout=WAIT_SECONDS,
            )
            version = int(appended.last_version)
            readers = [_connect(projector.port) for _ in range(READERS)]
            try:
                # Connected first, so the workers that will answer are known.
                await asyncio.gather(*(r.channel_ready() for r in readers))
                held = owners(sockets(projector.port, ESTABLISHED), workers)
                answered = await asyncio.gather(
                    *(_read_at_least(r, fund_id, version) for r in readers)
                )
            finally:
                await asyncio.gather(*(r.close(None) for r in readers))
            assert all(v >= version for v in answered), (version, answered)
            for pid, count in held.items():
                taken[pid] += count
    # The race was run on both workers (the non-consumer one included).
    assert all(count > 0 for count in taken.values()), taken
    leaders = [line for line in projector.lines if "serving gRPC on" in str(line.get("message"))]
    assert {line["worker"]: line["leader"] for line in leaders} == {0: True, 1: False}
