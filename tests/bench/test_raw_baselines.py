"""The raw PostgreSQL baselines write what an append writes: the unnest baseline of 100-event
batches puts 100 event-shaped rows per call into the bench's raw table, each client on its own
stream with versions in order, like the single-row insert baseline (real PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from fundledger_devstack.ports import free_port
from fundledger_devstack.postgres import PostgresServer

from tests.bench.payloads import EVENT_TYPE, RAW_TABLE_DDL, event_data
from tests.bench.workloads import Workload, open_workload

CLIENTS = (0, 1)
CALLS = 3


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = PostgresServer(Path(tmp_path_factory.mktemp("raw-baselines")) / "pg", free_port())
    try:
        server.start()
        yield server.dsn
    finally:
        server.stop()


async def _rows(dsn: str, tag: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return list(
            await conn.fetch(
                "SELECT * FROM bench.raw_events WHERE stream_id LIKE $1 ORDER BY position",
                f"fund-{tag}-%",
            )
        )
    finally:
        await conn.close()


async def test_unnest_writes_100_event_rows_per_call_like_the_single_insert(database: str) -> None:
    conn = await asyncpg.connect(database)
    try:
        await conn.execute(RAW_TABLE_DDL)
    finally:
        await conn.close()
    async with open_workload(Workload("unnest", database, events=100, tag="u"), CLIENTS) as call:
        for _ in range(CALLS):
            for client in CLIENTS:
                await call(client)
    async with open_workload(Workload("insert", database, tag="i"), CLIENTS) as call:
        await call(0)

    rows = await _rows(database, "u")
    assert len(rows) == len(CLIENTS) * CALLS * 100
    assert len({r["event_id"] for r in rows}) == len(rows)
    for client in CLIENTS:
        mine = [r for r in rows if r["stream_id"] == f"fund-u-{client}"]
        assert [r["version"] for r in mine] == list(range(1, CALLS * 100 + 1))
        expected = json.loads(event_data(client))
        assert all(json.loads(r["data"]) == expected for r in mine)
        assert len({r["correlation_id"] for r in mine}) == len(mine)
    single = (await _rows(database, "i"))[0]
    batched = next(r for r in rows if r["stream_id"] == "fund-u-0")
    same = [
        "category",
        "event_type",
        "schema_version",
        "data",
        "metadata",
        "payload_hash",
        "user_id",
        "source",
    ]
    assert {k: batched[k] for k in same} == {k: single[k] for k in same}
    assert batched["event_type"] == EVENT_TYPE
