"""The whole stack as real processes a fault test may kill: PostgreSQL and NATS (devstack
servers) and the event store, projector and snapshotter (`python -m <module>`, one process
each: FUNDLEDGER_WORKERS=1, so the pid is the server itself, not a supervisor that would
restart it behind the test's back).

Not the dev supervisor (`fundledger_devstack.stack.Stack`), which stops everything as soon as
one process dies: here a death is the point, and only the test restarts what it killed. Every
kill is a SIGKILL to a pid this module started (a PostgreSQL crash also kills the postmaster's
own children, by pid, as a container kill would), and every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from fundledger_devstack.health import wait_serving
from fundledger_devstack.nats import NatsServer
from fundledger_devstack.ports import LOCALHOST, free_port
from fundledger_devstack.postgres import PostgresServer
from fundledger_devstack.process import ManagedProcess, child_pids, log_tail
from fundledger_devstack.security import StackSecurity
from fundledger_devstack.services import Backends, service_environment

from tests.support.secure import CHANNEL_OPTIONS

# Upper bounds for slow machines, not timed expectations.
READY_SECONDS = 60.0
MIGRATE_SECONDS = 120.0
GONE_SECONDS = 15.0
# A client reconnects within a second of a server coming back (gRPC's default backoff grows
# to two minutes over a long outage).
CLIENT_OPTIONS = [
    *CHANNEL_OPTIONS,
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
]
# Start order: the projector and snapshotter read the log through the event store.
SERVICES = {"event-store": "eventstore", "projector": "projector", "snapshotter": "snapshotter"}


@dataclass
class Service:
    """One service process on a fixed port (a restart comes back where clients look)."""

    name: str
    module: str
    port: int
    env: dict[str, str]
    log_dir: Path
    security: StackSecurity
    process: ManagedProcess = field(init=False)
    starts: int = 0

    def __post_init__(self) -> None:
        argv = [sys.executable, "-m", self.module]
        self.process = ManagedProcess(self.name, argv, self.log_dir / f"{self.name}.log", self.env)

    @property
    def address(self) -> str:
        return f"{LOCALHOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def migrate(self) -> None:
        path = self.log_dir / f"{self.name}.migrate.log"
        with path.open("wb") as out:
            result = subprocess.run(
                [sys.executable, "-m", self.module, "migrate"],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                timeout=MIGRATE_SECONDS,
                check=False,
            )
        assert result.returncode == 0, f"{self.name} migrate failed:\n{log_tail(path)}"

    def start(self) -> None:
        # From the event loop's (main) thread: the child then dies with the test (pdeathsig).
        self.process.start()
        self.starts += 1

    def kill(self) -> None:
        """SIGKILL, no drain, no goodbye; reaped."""
        assert self.process.running, f"{self.name} was not running when the test killed it"
        self.process.kill()

    async def wait_serving(self) -> None:
        """Until Health/Check says SERVING (bounded); fails with the log's tail."""
        try:
            await asyncio.to_thread(
                wait_serving,
                self.address,
                READY_SECONDS,
                self.process.check_alive,
                self.name,
                self.security.channel_credentials(),
            )
        except Exception as err:
            raise AssertionError(f"{self.name} did not come back: {err}") from None

    def stop(self) -> None:
        self.process.stop(15.0)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def postmaster_pid(server: PostgresServer) -> int:
    first = (server.data_dir / "postmaster.pid").read_text().split("\n", 1)[0]
    return int(first)


def crash_postgres(server: PostgresServer) -> int:
    """SIGKILL the postmaster and every process it forked (backends, checkpointer, WAL
    writer…), as a killed container would: nothing flushes, the next start recovers from the
    WAL. Returns the postmaster's pid."""
    postmaster = postmaster_pid(server)
    children = child_pids(postmaster)
    for pid in (postmaster, *children):
        with contextlib.suppress(ProcessLookupError):  # a child that exited meanwhile
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + GONE_SECONDS
    while any(_alive(pid) for pid in (postmaster, *children)):
        assert time.monotonic() < deadline, "PostgreSQL processes outlived SIGKILL"
        time.sleep(0.05)
    return postmaster


@dataclass
class WholeStack:
    postgres: PostgresServer
    nats: NatsServer
    services: dict[str, Service]

    @property
    def dsn(self) -> str:
        return self.postgres.dsn

    def address(self, name: str) -> str:
        return self.services[name].address

    def channels(self, credentials: grpc.ChannelCredentials) -> dict[str, grpc.aio.Channel]:
        """A channel to each service, reconnecting quickly after a restart (the caller closes
        them)."""
        return {
            name: grpc.aio.secure_channel(self.address(name), credentials, options=CLIENT_OPTIONS)
            for name in self.services
        }

    async def wait_all_serving(self) -> None:
        for service in self.services.values():
            await service.wait_serving()

    async def restart_postgres(self) -> None:
        await asyncio.to_thread(self.postgres.start, READY_SECONDS)

    async def restart_nats(self) -> None:
        await asyncio.to_thread(self.nats.start, READY_SECONDS)


def build(
    root: Path,
    security: StackSecurity,
    *,
    postgres: PostgresServer | None = None,
    database_url: str | None = None,
) -> WholeStack:
    """The servers and service definitions under ``root`` (nothing started yet); the services
    connect to ``database_url`` (default: the PostgreSQL server's own)."""
    postgres = postgres or PostgresServer(root / "postgres", free_port())
    nats = NatsServer(root / "nats", free_port(), free_port())
    ports = {name: free_port() for name in SERVICES}
    eventstore = f"{LOCALHOST}:{ports['event-store']}"
    backends = Backends(
        database_url=database_url or postgres.dsn, nats_url=nats.url, eventstore_address=eventstore
    )
    services = {}
    for name, module in SERVICES.items():
        env = service_environment(backends, ports[name], -1, workers=1)
        env.update(security.service_env(name))
        env.update(
            {
                "FUNDLEDGER_LOG_LEVEL": "INFO",
                "FUNDLEDGER_SHUTDOWN_GRACE_SECONDS": "2",
                # The consumers fill what the bus missed from the log: often, so a test
                # that kills the bus does not wait the production half minute.
                "FUNDLEDGER_PROJECTOR_CATCHUP_SECONDS": "2",
                "FUNDLEDGER_SNAPSHOTTER_CATCHUP_SECONDS": "2",
                "FUNDLEDGER_EVENTSTORE_RELAY_POLL_SECONDS": "0.2",
            }
        )
        services[name] = Service(name, module, ports[name], env, root, security)
    return WholeStack(postgres, nats, services)
