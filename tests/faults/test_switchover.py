"""The whole stack across a PostgreSQL primary switchover and a failover (issue 13: the
services "survive a primary switchover (reconnect, retry idempotent appends)").

Two PostgreSQL servers on loopback in synchronous streaming replication, as the prod
CloudNativePG Cluster runs them, and services whose database URL names both hosts: they
connect to whichever takes writes (``target_session_attrs=read-write``, added by
fundledger_platform.settings.primary_only; in a cluster the operator's ``-rw`` service does
the same). Clients append through the client the services themselves use
(fundledger_platform.eventstore_client: an idempotent append is sent again within its retry
time), sending each request once: a request the client gives up on fails the test.

1. Switchover, as the operator does it: the primary stops cleanly (``pg_ctl stop -m fast``),
   the standby is promoted (OUTAGE_SECONDS later: no server takes writes meanwhile).
2. Failover: a new standby is cloned from the new primary (on the old primary's port) and
   made synchronous, then the primary is killed with SIGKILL and the standby promoted.

Afterwards, read back from the stack: the log holds every acknowledged append exactly once
at the versions acknowledged, contiguous; the projection and time travel equal the fold of
the log; the bus holds every event once; every chain verifies. Bounded in time, 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from fundledger.eventstore.v1 import eventstore_pb2, eventstore_pb2_grpc
from fundledger_devstack.ports import LOCALHOST, free_port
from fundledger_devstack.postgres import APP_DATABASE, SUPERUSER, PostgresServer
from fundledger_platform.auth.client import TokenSource
from fundledger_platform.eventstore_client import EventStoreClient

from tests.faults.appenders import Acked, Clients, Ledger, append_via_service_client, create_funds
from tests.faults.checks import (
    assert_the_stack_holds_exactly_the_acknowledged,
    assert_the_stack_moves_again,
)
from tests.faults.processes import WholeStack, build, crash_postgres
from tests.faults.replication import add_synchronous_standby, promote
from tests.support.secure import SecureEnv

FUNDS = 4
CLIENTS = 3
PROGRESS = 10
PROGRESS_SECONDS = 90.0
STOP_SECONDS = 60.0
CALL_SECONDS = 5.0
# Between the primary going and the standby taking writes: an operator confirms the primary is
# gone and the standby caught up before promoting. Longer than a few quick retries, well inside
# the client's retry time (APPEND_RETRY_SECONDS).
OUTAGE_SECONDS = 5.0


class Cluster:
    """The two servers; ``primary`` is whichever takes writes now."""

    def __init__(self, root: pytest.TempPathFactory) -> None:
        self.root = root.mktemp("switchover")
        self.ports = (free_port(), free_port())
        self.primary = PostgresServer(self.root / "pg-0", self.ports[0])
        self.standby: PostgresServer | None = None
        self.retired: list[PostgresServer] = []

    @property
    def url(self) -> str:
        hosts = ",".join(f"{LOCALHOST}:{port}" for port in self.ports)
        return f"postgresql://{SUPERUSER}@{hosts}/{APP_DATABASE}"

    def free_port_of_the_two(self) -> int:
        return next(port for port in self.ports if port != self.primary.port)

    async def add_standby(self, name: str) -> None:
        self.standby = await add_synchronous_standby(
            self.primary, self.root / name, self.free_port_of_the_two()
        )

    async def switch(self, crash: bool) -> None:
        """The primary goes (a clean stop, or SIGKILL), the standby takes over."""
        assert self.standby is not None
        if crash:
            await asyncio.to_thread(crash_postgres, self.primary)
        else:
            await asyncio.to_thread(self.primary.stop)
        await asyncio.sleep(OUTAGE_SECONDS)
        await promote(self.standby)
        self.retired.append(self.primary)
        self.primary, self.standby = self.standby, None

    def stop(self) -> None:
        for server in (self.primary, self.standby, *self.retired):
            if server is not None:
                server.stop()


@pytest.fixture
async def cluster_stack(
    tmp_path_factory: pytest.TempPathFactory, secure_env: SecureEnv
) -> AsyncIterator[tuple[Cluster, WholeStack]]:
    cluster = Cluster(tmp_path_factory)
    whole = build(
        cluster.root, secure_env.security, postgres=cluster.primary, database_url=cluster.url
    )
    try:
        await asyncio.to_thread(cluster.primary.start)
        await cluster.add_standby("pg-1")
        whole.nats.start()
        for service in whole.services.values():
            await asyncio.to_thread(service.migrate)
        for service in whole.services.values():
            service.start()
        await whole.wait_all_serving()
        yield cluster, whole
    finally:
        for service in reversed(whole.services.values()):
            service.stop()
        whole.nats.stop()
        await asyncio.to_thread(cluster.stop)


async def test_the_stack_rides_out_a_switchover_and_a_failover(
    cluster_stack: tuple[Cluster, WholeStack], secure_env: SecureEnv
) -> None:
    cluster, stack = cluster_stack
    began = time.monotonic()
    token = secure_env.token()
    credentials = secure_env.credentials(token)
    channels = stack.channels(credentials)
    store = eventstore_pb2_grpc.EventStoreServiceStub(channels["event-store"])
    service_client = EventStoreClient(
        stack.address("event-store"),
        timeout_seconds=CALL_SECONDS,
        tls=secure_env.client_tls(),
        token=TokenSource.fixed(token),
    )
    ledger = Ledger()
    clients = Clients(ledger)
    funds = [f"fund-{uuid.uuid4()}" for _ in range(FUNDS)]
    report: list[str] = []
    try:
        await create_funds(store, funds, ledger)

        async def send(request: eventstore_pb2.AppendToStreamRequest) -> Acked:
            return await append_via_service_client(service_client, request, ledger)

        clients.start(CLIENTS, send, funds)
        try:
            await clients.progress(PROGRESS, "before the switchover", PROGRESS_SECONDS)
            for step, crash in (("switchover", False), ("failover", True)):
                if cluster.standby is None:
                    await cluster.add_standby(f"pg-{len(cluster.retired) + 1}")
                    await clients.progress(
                        PROGRESS,
                        f"with a new synchronous standby before the {step}",
                        PROGRESS_SECONDS,
                    )
                old = cluster.primary.port
                started = time.monotonic()
                await cluster.switch(crash)
                await assert_the_stack_moves_again(
                    clients, channels, PROGRESS, f"after the {step}", PROGRESS_SECONDS
                )
                report.append(
                    f"{step} {old} -> {cluster.primary.port}: appending and read models "
                    f"following after {time.monotonic() - started:.1f}s"
                )
        finally:
            await clients.stop(STOP_SECONDS)

        total = await assert_the_stack_holds_exactly_the_acknowledged(
            channels, stack.nats.url, funds, ledger
        )
        # The services were never restarted: they reconnected on their own.
        assert {name: s.starts for name, s in stack.services.items()} == dict.fromkeys(
            stack.services, 1
        )
        print(
            f"\nswitchover and failover: {len(ledger.acked)} appends acknowledged "
            f"({sum(1 for a in ledger.acked if a.replayed)} as replays), {total} events, "
            f"{time.monotonic() - began:.1f}s"
        )
        for line in report:
            print(f"  {line}")
    finally:
        await service_client.close()
        for channel in channels.values():
            await channel.close(None)
