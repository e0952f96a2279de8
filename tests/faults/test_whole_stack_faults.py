"""The whole stack under SIGKILL (issue 13, "Faults, proven").

PostgreSQL, NATS JetStream, the event store, the projector and the snapshotter run as real
processes started by this test (tests/faults/processes.py; not the dev supervisor, which stops
everything when one process dies). A few clients append to several funds with idempotency
keys, sending the same request again after any transient failure, while one after another the
event store, the projector, the snapshotter, NATS, PostgreSQL and the event store again are
killed with SIGKILL and restarted; after each kill the test waits (bounded) for every service
to be SERVING and for the clients to get further appends acknowledged.

Afterwards, read back from the stack itself:
- the log holds every acknowledged append exactly once, at the versions its acknowledgement
  named, each fund's versions 1..n without a gap, and nothing that was not acknowledged;
- the projection (GetFundState, read-your-writes at the head) and time travel
  (GetFundStateAt at the head version) equal the kernel's fold of the log;
- the bus (the JetStream event stream) holds every logged event exactly once;
- every fund's hash chain verifies, its head the last event's hash.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from fundledger.eventstore.v1 import eventstore_pb2, eventstore_pb2_grpc

from tests.faults.appenders import Acked, Clients, Ledger, append_until_acked, create_funds
from tests.faults.checks import (
    assert_the_stack_holds_exactly_the_acknowledged,
    assert_the_stack_moves_again,
)
from tests.faults.processes import WholeStack, build, crash_postgres
from tests.support.secure import SecureEnv

FUNDS = 6
CLIENTS = 3
# In this order, one at a time, each followed by a bounded wait for health and progress.
FAULTS = ("event-store", "projector", "snapshotter", "nats", "postgres", "event-store")
# Appends acknowledged after each recovery before the next fault (the stack works again).
PROGRESS = 10
PROGRESS_SECONDS = 60.0
STOP_SECONDS = 60.0


@pytest.fixture
async def stack(
    tmp_path_factory: pytest.TempPathFactory, secure_env: SecureEnv
) -> AsyncIterator[WholeStack]:
    # Short: PostgreSQL's unix socket lives in its data dir (107 bytes at most).
    root = tmp_path_factory.mktemp("faults")
    whole = build(root, secure_env.security)
    try:
        await asyncio.to_thread(whole.postgres.start)
        # From the main thread: NATS then dies with the test run (pdeathsig).
        whole.nats.start()
        for service in whole.services.values():
            await asyncio.to_thread(service.migrate)
        for service in whole.services.values():
            service.start()
        await whole.wait_all_serving()
        yield whole
    finally:
        for service in reversed(whole.services.values()):
            service.stop()
        whole.nats.stop()
        await asyncio.to_thread(whole.postgres.stop)


async def _inject(stack: WholeStack, target: str) -> str:
    """SIGKILL ``target`` and start it again; what happened, for the report."""
    if target == "postgres":
        pid = await asyncio.to_thread(crash_postgres, stack.postgres)
        await stack.restart_postgres()
    elif target == "nats":
        pid = stack.nats.pid or 0
        stack.nats.kill()
        await stack.restart_nats()
    else:
        service = stack.services[target]
        pid = service.pid or 0
        service.kill()
        service.start()
    return f"{target} (pid {pid})"


async def test_every_acknowledged_append_survives_sigkill_of_every_process(
    stack: WholeStack, secure_env: SecureEnv
) -> None:
    began = time.monotonic()
    credentials = secure_env.credentials(secure_env.token())
    channels = stack.channels(credentials)
    store = eventstore_pb2_grpc.EventStoreServiceStub(channels["event-store"])
    ledger = Ledger()
    clients = Clients(ledger)
    funds = [f"fund-{uuid.uuid4()}" for _ in range(FUNDS)]
    report: list[str] = []
    try:
        await create_funds(store, funds, ledger)

        async def send(request: eventstore_pb2.AppendToStreamRequest) -> Acked:
            return await append_until_acked(store, request, ledger)

        clients.start(CLIENTS, send, funds)
        try:
            await clients.progress(PROGRESS, "before any fault", PROGRESS_SECONDS)
            for target in FAULTS:
                killed_at = time.monotonic()
                what = await _inject(stack, target)
                await stack.wait_all_serving()
                serving = time.monotonic() - killed_at
                await assert_the_stack_moves_again(
                    clients, channels, PROGRESS, f"after killing {what}", PROGRESS_SECONDS
                )
                report.append(
                    f"{what}: serving again after {serving:.1f}s, "
                    f"appending and read models following after "
                    f"{time.monotonic() - killed_at:.1f}s"
                )
        finally:
            await clients.stop(STOP_SECONDS)

        # Every event of this test was appended with the chain on, across every kill of the
        # event store and PostgreSQL: every chain verifies.
        total = await assert_the_stack_holds_exactly_the_acknowledged(
            channels, stack.nats.url, funds, ledger
        )

        restarts = {name: service.starts - 1 for name, service in stack.services.items()}
        assert restarts == {"event-store": 2, "projector": 1, "snapshotter": 1}, restarts
        print(
            f"\nwhole-stack faults: {len(ledger.acked)} appends acknowledged "
            f"({sum(1 for a in ledger.acked if a.replayed)} as replays), {total} events in "
            f"{FUNDS} funds, retries {ledger.retries}, {time.monotonic() - began:.1f}s"
        )
        for line in report:
            print(f"  {line}")
    finally:
        for channel in channels.values():
            await channel.close(None)
