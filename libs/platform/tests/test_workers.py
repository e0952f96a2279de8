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
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import pytest
from fundledger.eventstore.v1 import events_pb2, eventstore_pb2_grpc
from fundledger.eventstore.v1 import eventstore_pb2 as pb
from fundledger_devstack.nats import NatsServer

WAIT_SECONDS = 60.0  # an upper bound for slow machines, not a timed expectation
CHANNELS = 32
_LISTEN, _ESTABLISHED = "0A", "01"


@dataclass
class Service:
    process: asyncio.subprocess.Process
    lines: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0
    reader: asyncio.Task[None] | None = None

    async def wait_for(self, predicate: Any, what: str) -> dict[str, Any]:
        """The first log line (seen so far or next) that matches; fails if the process exits."""
        seen = 0
        for _ in range(int(WAIT_SECONDS / 0.05)):
            for line in self.lines[seen:]:
                if predicate(line):
                    return line
            seen = len(self.lines)
            if self.process.returncode is not None and self.reader and self.reader.done():
                break
            await asyncio.sleep(0.05)
        raise AssertionError(f"never logged {what}; last lines: {self.lines[-10:]}")

    def messages(self) -> list[str]:
        return [str(line.get("message")) for line in self.lines]


def _environment(dsn: str, nats_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNDLEDGER_")}
    env.update(
        {
            "FUNDLEDGER_DATABASE_URL": dsn,
            "FUNDLEDGER_NATS_URL": nats_url,
            "FUNDLEDGER_GRPC_HOST": "127.0.0.1",
            "FUNDLEDGER_GRPC_PORT": "0",
            "FUNDLEDGER_METRICS_PORT": "0",
            "FUNDLEDGER_WORKERS": "2",
            "FUNDLEDGER_LOG_LEVEL": "INFO",
            "FUNDLEDGER_SHUTDOWN_GRACE_SECONDS": "5",
            **extra,
        }
    )
    return env


async def _start(env: dict[str, str]) -> Service:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "eventstore", env=env, stderr=asyncio.subprocess.PIPE
    )
    service = Service(process)

    async def read() -> None:
        assert process.stderr is not None
        while raw := await process.stderr.readline():
            try:
                service.lines.append(json.loads(raw))
            except ValueError:
                service.lines.append({"message": raw.decode(errors="replace").rstrip()})

    service.reader = asyncio.create_task(read())
    return service


async def _stop(service: Service) -> None:
    if service.process.returncode is None:
        service.process.kill()
        await service.process.wait()
    if service.reader is not None:
        await service.reader


@pytest.fixture
async def workers(fresh_dsn: str, nats_server: NatsServer) -> AsyncIterator[Service]:
    service = await _start(_environment(fresh_dsn, nats_server.url))
    try:
        serving = await service.wait_for(
            lambda line: line.get("message", "").endswith("2 workers serving"), "2 workers serving"
        )
        assert serving["worker"] == "supervisor"
        started = next(line for line in service.lines if "workers" in line and "grpc_port" in line)
        service.port = int(started["grpc_port"])
        yield service
    finally:
        await _stop(service)


def _sockets(port: int, state: str) -> set[int]:
    """Inodes of the TCP sockets on local ``port`` in ``state``."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            cols = row.split()
            if int(cols[1].rsplit(":", 1)[1], 16) == port and cols[3] == state:
                inodes.add(int(cols[9]))
    return inodes


def _owners(inodes: set[int], pids: list[int]) -> dict[int, int]:
    """pid -> how many of ``inodes`` it holds."""
    counts: dict[int, int] = {}
    for pid in pids:
        fd_dir = Path(f"/proc/{pid}/fd")
        held = 0
        for fd in fd_dir.iterdir() if fd_dir.exists() else ():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and int(target[8:-1]) in inodes:
                held += 1
        counts[pid] = held
    return counts


def _children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == parent:
                found.append(int(entry.name))
    return found


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
        return _owners(_sockets(service.port, _ESTABLISHED), pids)
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


async def _eventually(check: Any, what: str) -> None:
    for _ in range(int(WAIT_SECONDS / 0.1)):
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"never true: {what}")


async def test_two_workers_share_the_port_and_each_takes_calls(workers: Service) -> None:
    supervisor = workers.process.pid
    pids = _children(supervisor)
    assert len(pids) == 2
    listening = _owners(_sockets(workers.port, _LISTEN), pids)
    assert listening == {pid: 1 for pid in pids}, listening
    per_worker = await _connections_per_worker(workers, pids)
    # 32 new connections spread by the kernel's SO_REUSEPORT hash: both workers take some.
    assert sum(per_worker.values()) == CHANNELS
    assert all(count > 0 for count in per_worker.values()), per_worker


async def test_only_worker_0_runs_the_relay(workers: Service, fresh_dsn: str) -> None:
    by_index = _worker_pids(workers)
    assert set(by_index) == {0, 1}
    leaders = [line for line in workers.lines if "serving gRPC on" in str(line.get("message"))]
    assert {line["worker"]: line["leader"] for line in leaders} == {0: True, 1: False}
    # Each worker has its own connections (a notifier each); one relay in the pod.
    await _eventually(
        lambda: _equals(_backends(fresh_dsn, "event-store-notifier"), 2), "two notifiers"
    )
    await _eventually(lambda: _equals(_backends(fresh_dsn, "event-store-relay"), 1), "one relay")
    relay_lines = [line for line in workers.lines if "is the leader" in str(line.get("message"))]
    assert {line["worker"] for line in relay_lines} == {0}


async def _equals(count: Any, expected: int) -> bool:
    return int(await count) == expected


async def _count(value: int) -> int:
    return value


async def test_a_killed_worker_is_restarted_and_the_port_keeps_serving(
    workers: Service, fresh_dsn: str
) -> None:
    for index in (1, 0):
        before = _worker_pids(workers)
        os.kill(before[index], signal.SIGKILL)
        await _eventually(
            lambda: _equals(_count(len(_sockets(workers.port, _LISTEN))), 1),
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
        pids = _children(workers.process.pid)
        assert sorted(pids) == sorted(after.values())
        assert _owners(_sockets(workers.port, _LISTEN), pids) == {pid: 1 for pid in pids}
        per_worker = await _connections_per_worker(workers, pids)
        assert all(count > 0 for count in per_worker.values()), per_worker
    # Worker 0 came back with the relay: still exactly one in the pod.
    await _eventually(lambda: _equals(_backends(fresh_dsn, "event-store-relay"), 1), "one relay")


async def test_no_second_instance_joins_the_port(
    workers: Service, fresh_dsn: str, nats_server: NatsServer
) -> None:
    port = str(workers.port)
    refusals = {"2": "another supervisor already serves", "1": "port in use"}
    for count, refusal in refusals.items():  # a second supervisor; a stray single process
        env = _environment(
            fresh_dsn, nats_server.url, FUNDLEDGER_GRPC_PORT=port, FUNDLEDGER_WORKERS=count
        )
        stray = await _start(env)
        try:
            assert await asyncio.wait_for(stray.process.wait(), WAIT_SECONDS) != 0
        finally:
            await _stop(stray)
        assert any(refusal in m for m in stray.messages()), stray.messages()[-5:]
    # The pair still serves, both workers.
    pids = _children(workers.process.pid)
    per_worker = await _connections_per_worker(workers, pids)
    assert all(count > 0 for count in per_worker.values()), per_worker


async def test_sigterm_drains_every_worker_and_exits_0(workers: Service) -> None:
    pids = _children(workers.process.pid)
    workers.process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(workers.process.wait(), WAIT_SECONDS) == 0
    assert workers.reader is not None
    await workers.reader
    messages = workers.messages()
    assert messages.count("event-store stopped") == 2
    assert "event-store: workers stopped" in messages
    assert not _alive(pids)
    assert not _sockets(workers.port, _LISTEN)
