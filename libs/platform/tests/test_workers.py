"""A real service (the event store) run as two worker processes on one port.

Both workers listen on the port and take calls; a killed worker comes back while the other
keeps serving; the background roles (the relay) run in worker 0 alone; a second supervisor
or a stray single process cannot join the port; SIGTERM drains every worker and exits 0.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import grpc
import pytest
from fundledger.eventstore.v1 import events_pb2, eventstore_pb2_grpc
from fundledger.eventstore.v1 import eventstore_pb2 as pb
from fundledger_devstack.loopback_http import fetch
from fundledger_devstack.nats import NatsServer
from fundledger_devstack.proc_sockets import ESTABLISHED, LISTEN, owners, sockets
from fundledger_devstack.process import child_pids
from worker_processes import (
    CHANNELS,
    WAIT_SECONDS,
    Service,
    environment,
    equals,
    eventually,
    start,
    stop,
    value,
)


@pytest.fixture
async def workers(
    fresh_dsn: str, nats_server: NatsServer, tmp_path: Path
) -> AsyncIterator[Service]:
    service = await start("eventstore", environment(fresh_dsn, nats_server.url), tmp_path)
    try:
        await service.serving(2)
        yield service
    finally:
        await stop(service)


def _alive(pids: list[int]) -> list[int]:
    return [pid for pid in pids if Path(f"/proc/{pid}").exists()]


def _worker_pids(service: Service) -> dict[int, int]:
    """worker index -> pid, from the workers' "serving" lines (the latest per index)."""
    pids: dict[int, int] = {}
    for line in service.lines:
        if "serving gRPC on" in str(line.get("message")) and isinstance(line.get("worker"), int):
            pids[int(line["worker"])] = int(line["pid"])
    return pids


def _append(stream_id: str) -> pb.AppendToStreamRequest:
    data = events_pb2.EventData(event_type="NOTE_ADDED", data=json.dumps({"n": 1}).encode())
    return pb.AppendToStreamRequest(stream_id=stream_id, events=[data])


async def _appends_on_fresh_channels(port: int) -> list[grpc.aio.Channel]:
    """One append per new channel (a new connection each); the channels stay open."""
    # A local subchannel pool each: channels of one process otherwise share one connection.
    options = [("grpc.use_local_subchannel_pool", 1)]
    channels = [
        grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=options) for _ in range(CHANNELS)
    ]
    responses = await asyncio.gather(
        *(
            eventstore_pb2_grpc.EventStoreServiceStub(ch).AppendToStream(
                _append(f"workers-{uuid.uuid4()}"), timeout=WAIT_SECONDS
            )
            for ch in channels
        )
    )
    assert all(r.last_version == 1 for r in responses), responses
    return channels


async def _connections_per_worker(service: Service, pids: list[int]) -> dict[int, int]:
    channels = await _appends_on_fresh_channels(service.port)
    try:
        return owners(sockets(service.port, ESTABLISHED), pids)
    finally:
        await asyncio.gather(*(ch.close(None) for ch in channels))


async def _backends(dsn: str, application: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 "
                "AND datname = current_database()",
                application,
            )
        )
    finally:
        await conn.close()


async def test_two_workers_share_the_port_and_each_takes_calls(workers: Service) -> None:
    supervisor = workers.process.pid
    pids = child_pids(supervisor)
    assert len(pids) == 2
    listening = owners(sockets(workers.port, LISTEN), pids)
    assert listening == {pid: 1 for pid in pids}, listening
    per_worker = await _connections_per_worker(workers, pids)
    # 32 new connections spread by the kernel's SO_REUSEPORT hash: both workers take some.
    assert sum(per_worker.values()) == CHANNELS
    assert all(count > 0 for count in per_worker.values()), per_worker


async def test_one_metrics_endpoint_sums_the_workers(workers: Service) -> None:
    started = next(line for line in workers.lines if "workers" in line and "metrics_port" in line)
    pids = child_pids(workers.process.pid)
    per_worker = await _connections_per_worker(workers, pids)  # 32 appends, both workers
    assert all(count > 0 for count in per_worker.values()), per_worker
    body = await asyncio.to_thread(_scrape, int(started["metrics_port"]))
    assert _sample(body, "fundledger_eventstore_events_appended_total") == CHANNELS
    # The relay runs in worker 0 only: one series, no pid label (multiprocess_mode livemax).
    assert [ln for ln in body.splitlines() if ln.startswith("fundledger_eventstore_relay_leader")]
    assert "fundledger_eventstore_relay_leader{" not in body


def _scrape(port: int) -> str:
    status, body = fetch(f"http://127.0.0.1:{port}/metrics", timeout=WAIT_SECONDS)
    assert status == 200
    return body.decode()


def _sample(body: str, name: str) -> float:
    return sum(float(ln.rsplit(" ", 1)[1]) for ln in body.splitlines() if ln.startswith(name + " "))


async def test_only_worker_0_runs_the_relay(workers: Service, fresh_dsn: str) -> None:
    by_index = _worker_pids(workers)
    assert set(by_index) == {0, 1}
    leaders = [line for line in workers.lines if "serving gRPC on" in str(line.get("message"))]
    assert {line["worker"]: line["leader"] for line in leaders} == {0: True, 1: False}
    # Each worker has its own connections (a notifier each); one relay in the pod.
    await eventually(
        lambda: equals(_backends(fresh_dsn, "event-store-notifier"), 2), "two notifiers"
    )
    await eventually(lambda: equals(_backends(fresh_dsn, "event-store-relay"), 1), "one relay")
    relay_lines = [line for line in workers.lines if "is the leader" in str(line.get("message"))]
    assert {line["worker"] for line in relay_lines} == {0}


async def test_a_killed_worker_is_restarted_and_the_port_keeps_serving(
    workers: Service, fresh_dsn: str
) -> None:
    for index in (1, 0):
        before = _worker_pids(workers)
        os.kill(before[index], signal.SIGKILL)
        await eventually(
            lambda: equals(value(len(sockets(workers.port, LISTEN))), 1),
            "the killed worker's listener closed",
        )
        # Meanwhile the port serves: the other worker takes every new connection.
        channels = await _appends_on_fresh_channels(workers.port)
        await asyncio.gather(*(ch.close(None) for ch in channels))
        await workers.wait_for(
            lambda line, i=index: line.get("message", "").startswith(f"worker {i} restarted"),
            f"worker {index} restarted",
        )
        after = _worker_pids(workers)
        assert after[index] != before[index]
        pids = child_pids(workers.process.pid)
        assert sorted(pids) == sorted(after.values())
        assert owners(sockets(workers.port, LISTEN), pids) == {pid: 1 for pid in pids}
        per_worker = await _connections_per_worker(workers, pids)
        assert all(count > 0 for count in per_worker.values()), per_worker
    # Worker 0 came back with the relay: still exactly one in the pod.
    await eventually(lambda: equals(_backends(fresh_dsn, "event-store-relay"), 1), "one relay")


async def test_no_second_instance_joins_the_port(
    workers: Service, fresh_dsn: str, nats_server: NatsServer, tmp_path: Path
) -> None:
    port = str(workers.port)
    refusals = {"2": "another supervisor already serves", "1": "port in use"}
    for count, refusal in refusals.items():  # a second supervisor; a stray single process
        env = environment(
            fresh_dsn, nats_server.url, FUNDLEDGER_GRPC_PORT=port, FUNDLEDGER_WORKERS=count
        )
        stray = await start("eventstore", env, tmp_path)
        try:
            assert await asyncio.wait_for(stray.process.wait(), WAIT_SECONDS) != 0
        finally:
            await stop(stray)
        assert any(refusal in m for m in stray.messages()), stray.messages()[-5:]
    # The pair still serves, both workers.
    pids = child_pids(workers.process.pid)
    per_worker = await _connections_per_worker(workers, pids)
    assert all(count > 0 for count in per_worker.values()), per_worker


async def test_sigterm_drains_every_worker_and_exits_0(workers: Service) -> None:
    pids = child_pids(workers.process.pid)
    workers.process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(workers.process.wait(), WAIT_SECONDS) == 0
    messages = workers.messages()
    assert messages.count("event-store stopped") == 2
    assert "event-store: workers stopped" in messages
    assert not _alive(pids)
    assert not sockets(workers.port, LISTEN)


async def test_workers_that_cannot_start_end_the_supervisor_with_exit_1(tmp_path: Path) -> None:
    # A policy file the supervisor does not read (it builds nothing) but every worker does.
    policy = tmp_path / "policy.yaml"
    policy.write_text("not_a_policy_key: 1\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNDLEDGER_")}
    env.update(
        {
            "FUNDLEDGER_WORKERS": "2",
            "FUNDLEDGER_GRPC_PORT": "0",
            "FUNDLEDGER_METRICS_PORT": "-1",
            "FUNDLEDGER_EVENTSTORE_ADDRESS": "127.0.0.1:1",
            "FUNDLEDGER_AUTH_POLICY_FILE": str(policy),
        }
    )
    service = await start("allocation", env, tmp_path)
    try:
        assert await asyncio.wait_for(service.process.wait(), WAIT_SECONDS) == 1
    finally:
        await stop(service)
    messages = service.messages()
    assert "allocation: a worker exited before serving: see its log lines" in messages
    assert not [m for m in messages if "serving gRPC" in m]


async def test_workers_do_not_outlive_a_killed_supervisor(workers: Service) -> None:
    pids = child_pids(workers.process.pid)
    workers.process.kill()  # no drain from it: the workers must notice on their own
    await workers.process.wait()
    # Each worker gets SIGTERM from the kernel (PR_SET_PDEATHSIG), drains and exits.
    await eventually(lambda: value(not _alive(pids)), "the workers exited")
    assert not sockets(workers.port, LISTEN)
    assert workers.messages().count("event-store stopped") == 2, [
        (ln.get("worker"), ln.get("message")) for ln in workers.lines[-8:]
    ]
