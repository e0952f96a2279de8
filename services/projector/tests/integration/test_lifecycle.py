"""Migrations, readiness, and rows written by another fold version."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import asyncpg
from fundledger_kernel.fund import FOLD_VERSION
from grpc_health.v1 import health_pb2, health_pb2_grpc
from projector.bootstrap import SERVICE_NAME, migrate
from projector_stack import Stack
from projector_support import (
    append,
    capital_called,
    fund_created,
    get_state,
    new_fund,
    overwrite_row,
    stored_row,
    wait_until,
)


async def _tables(dsn: str) -> set[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'projector'")
        return {r["tablename"] for r in rows}
    finally:
        await conn.close()


async def test_migrations_go_up_idempotently_and_down(fresh_dsn: str) -> None:
    await migrate(fresh_dsn)
    await migrate(fresh_dsn)  # nothing left to apply
    assert {"fund_state", "checkpoint", "schema_migrations"} <= await _tables(fresh_dsn)
    await migrate(fresh_dsn, down_to=0)
    assert await _tables(fresh_dsn) == {"schema_migrations"}

    # The command line does the same.
    env = {**os.environ, "FUNDLEDGER_DATABASE_URL": fresh_dsn, "FUNDLEDGER_LOG_LEVEL": "WARNING"}
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "projector", "migrate"],
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "fund_state" in await _tables(fresh_dsn)


async def test_health_follows_the_event_store(stack: Stack) -> None:
    projector = await stack.projector(consumer_enabled=False, catchup_enabled=False)
    async with stack.secure.channel(f"127.0.0.1:{projector.server.port}", None) as channel:
        health = health_pb2_grpc.HealthStub(channel)

        async def status() -> int:
            response = await health.Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME))
            return int(response.status)

        assert await status() == health_pb2.HealthCheckResponse.SERVING
        await stack.store.server.stop(0.5)

        async def not_serving() -> bool:
            return bool(await status() == health_pb2.HealthCheckResponse.NOT_SERVING)

        await wait_until(not_serving, "NOT_SERVING once the event store is gone")


async def test_a_row_of_another_fold_version_is_refolded_from_the_log(stack: Stack) -> None:
    projector = await stack.projector()
    stub = stack.stub(projector)
    fund = new_fund()
    written = await append(stack.client, fund, fund_created("Old"), capital_called(9))
    await get_state(stub, fund, min_version=written.last_version)
    # What an older fold would have left behind: its own layout and number.
    old_state = json.dumps({"fold_version": FOLD_VERSION - 1, "called": "nine"})
    await overwrite_row(stack.dsn, fund, FOLD_VERSION - 1, old_state)
    before = await stored_row(stack.dsn, fund)

    # The read answers from the log, folded in memory, and writes nothing.
    state = (await get_state(stub, fund)).state
    assert (state.version, state.called_cents, state.fold_version) == (2, 9, FOLD_VERSION)
    assert await stored_row(stack.dsn, fund) == before
    again = (await get_state(stub, fund)).state  # served from the read cache
    assert again == state

    # The apply path repairs the row with the fund's next event.
    written = await append(stack.client, fund, capital_called(1))
    state = (await get_state(stub, fund, min_version=written.last_version)).state
    assert (state.version, state.called_cents) == (3, 10)
    repaired = await stored_row(stack.dsn, fund)
    assert repaired is not None
    assert (repaired["fold_version"], repaired["version"]) == (FOLD_VERSION, 3)
