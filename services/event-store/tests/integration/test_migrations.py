"""`python -m eventstore migrate`: idempotent, reversible, safe to run concurrently, and
refusing an already-applied migration that changed."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from eventstore.bootstrap import MIGRATIONS, EventStore, migrate
from eventstore_support import append, event, new_stream, open_channel, read_versions
from fundledger.eventstore.v1 import eventstore_pb2_grpc
from fundledger_platform.migrations import (
    MigrationError,
    load_migrations,
    migrate_down,
    migrate_up,
)

from tests.support.service_module import run_service_module

# Every migration the event store ships, in order (the suite must not hard-code them).
ALL_VERSIONS = [m.version for m in load_migrations(MIGRATIONS, variant="native")]

SERVICE_TABLES = {
    "daily_counts",
    "event_ids",
    "events",
    "events_default",
    "idempotency_keys",
    "log_head",
    "relay_checkpoints",
    "schema_migrations",
    "storage_mode",
    "streams",
}


@contextlib.asynccontextmanager
async def stub_for(store: EventStore) -> AsyncIterator[Any]:
    async with open_channel(store) as channel:
        yield eventstore_pb2_grpc.EventStoreServiceStub(channel)


async def fetch(dsn: str, query: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


async def applied(dsn: str) -> list[tuple[Any, ...]]:
    rows = await fetch(
        dsn,
        "SELECT version, name, variant, checksum, applied_at "
        "FROM eventstore.schema_migrations ORDER BY version",
    )
    return [tuple(r) for r in rows]


async def tables(dsn: str) -> set[str]:
    """Tables, views and sequences in the eventstore schema (partitions included)."""
    rows = await fetch(
        dsn,
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'eventstore' AND c.relkind IN ('r', 'p', 'v', 'm', 'S')",
    )
    return {r["relname"] for r in rows}


async def schema_exists(dsn: str) -> bool:
    rows = await fetch(dsn, "SELECT 1 FROM pg_namespace WHERE nspname = 'eventstore'")
    return bool(rows)


async def test_migrate_is_idempotent(fresh_dsn: str) -> None:
    assert not await schema_exists(fresh_dsn)
    mode = await migrate(fresh_dsn)
    first = await applied(fresh_dsn)
    expected = [m.version for m in load_migrations(MIGRATIONS, variant=mode)]
    assert [r[0] for r in first] == expected == ALL_VERSIONS
    assert [r[2] for r in first][:2] == [None, mode]  # the variant 0002 was applied with
    assert SERVICE_TABLES - {"events_default"} <= await tables(fresh_dsn)
    before = await tables(fresh_dsn)

    assert await migrate(fresh_dsn) == mode
    assert await migrate(fresh_dsn) == mode
    assert await applied(fresh_dsn) == first  # same rows, same applied_at: nothing re-run
    assert await tables(fresh_dsn) == before
    rows = await fetch(fresh_dsn, "SELECT mode FROM eventstore.storage_mode")
    assert [r["mode"] for r in rows] == [mode]
    rows = await fetch(fresh_dsn, "SELECT last_position FROM eventstore.log_head")
    assert [r["last_position"] for r in rows] == [0]


async def test_migrate_down_and_up_again(fresh_dsn: str, store_factory: Callable[..., Any]) -> None:
    # The fixture has migrated the database; put some data in it.
    store: EventStore = await store_factory(relay_enabled=False)
    s = new_stream()
    async with stub_for(store) as stub:
        await stub.AppendToStream(append(s, event(), event()))
    await store.server.stop(1.0)
    mode = await migrate(fresh_dsn)  # a no-op on a migrated database
    assert [r[0] for r in await applied(fresh_dsn)] == ALL_VERSIONS

    # Down one step: the events table and its rollup go, the stream heads stay.
    await migrate(fresh_dsn, down_to=1)
    assert [r[0] for r in await applied(fresh_dsn)] == [1]
    left = await tables(fresh_dsn)
    assert not left & {"events", "events_default", "daily_counts"}
    assert {"streams", "log_head", "storage_mode"} <= left
    assert not any(name.startswith("events_p") for name in left)

    # Down to zero: nothing of the service is left.
    await migrate(fresh_dsn, down_to=0)
    assert await applied(fresh_dsn) == []
    # The bookkeeping table may survive (empty); nothing else may.
    assert await tables(fresh_dsn) <= {"schema_migrations"}
    # Reverting again is a no-op.
    await migrate(fresh_dsn, down_to=0)
    assert await tables(fresh_dsn) <= {"schema_migrations"}

    # Up again: a working, empty event store.
    assert await migrate(fresh_dsn) == mode
    assert [r[0] for r in await applied(fresh_dsn)] == ALL_VERSIONS
    assert SERVICE_TABLES - {"events_default"} <= await tables(fresh_dsn)
    assert await fetch(fresh_dsn, "SELECT * FROM eventstore.streams") == []
    again: EventStore = await store_factory(relay_enabled=False)
    async with stub_for(again) as stub:
        response = await stub.AppendToStream(append(s, event()))
        assert (response.first_version, response.first_position) == (1, 1)
        assert await read_versions(stub, s) == [1]


async def test_concurrent_migrations_apply_each_migration_once(fresh_dsn: str) -> None:
    modes = await asyncio.gather(*(migrate(fresh_dsn) for _ in range(4)))
    assert len(set(modes)) == 1
    rows = await applied(fresh_dsn)
    assert [r[0] for r in rows] == ALL_VERSIONS
    # 0001 inserts the single log_head row and 0002 the storage-mode row: a second
    # run of either would have failed or left two rows.
    assert len(await fetch(fresh_dsn, "SELECT * FROM eventstore.log_head")) == 1
    assert len(await fetch(fresh_dsn, "SELECT * FROM eventstore.storage_mode")) == 1

    # Concurrent downs and ups are just as safe.
    await asyncio.gather(*(migrate(fresh_dsn, down_to=0) for _ in range(3)))
    assert await applied(fresh_dsn) == []
    await asyncio.gather(*(migrate(fresh_dsn) for _ in range(3)))
    assert [r[0] for r in await applied(fresh_dsn)] == ALL_VERSIONS
    assert len(await fetch(fresh_dsn, "SELECT * FROM eventstore.log_head")) == 1


async def test_changed_migration_is_refused(fresh_dsn: str, tmp_path: Path) -> None:
    schema = f"mig_{uuid.uuid4().hex[:10]}"
    folder = tmp_path / "migrations"
    folder.mkdir()
    up = folder / "0001_things.up.sql"
    up.write_text(f"CREATE TABLE {schema}.things (id integer PRIMARY KEY);\n")
    (folder / "0001_things.down.sql").write_text(f"DROP TABLE {schema}.things;\n")

    conn = await asyncpg.connect(fresh_dsn)
    try:
        assert await migrate_up(conn, schema, load_migrations(folder)) == 1
        assert await migrate_up(conn, schema, load_migrations(folder)) == 0
        original = await conn.fetchval(
            f"SELECT checksum FROM {schema}.schema_migrations WHERE version = 1"
        )

        # Edit the applied migration and add a new one after it.
        up.write_text(f"CREATE TABLE {schema}.things (id integer PRIMARY KEY, extra text);\n")
        (folder / "0002_more.up.sql").write_text(f"CREATE TABLE {schema}.more (id integer);\n")
        (folder / "0002_more.down.sql").write_text(f"DROP TABLE {schema}.more;\n")
        with pytest.raises(MigrationError, match="0001_things changed after it was applied"):
            await migrate_up(conn, schema, load_migrations(folder))
        # Nothing ran: no new column, no 0002, the recorded checksum unchanged.
        columns = await conn.fetch(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = $1 AND table_name = 'things'",
            schema,
        )
        assert [r["column_name"] for r in columns] == ["id"]
        assert await conn.fetchval("SELECT to_regclass($1)", f"{schema}.more") is None
        versions = await conn.fetch(f"SELECT version, checksum FROM {schema}.schema_migrations")
        assert [(r["version"], r["checksum"]) for r in versions] == [(1, original)]

        # Even a whitespace-only edit counts as a change.
        up.write_text(f"CREATE TABLE {schema}.things (id integer PRIMARY KEY); \n")
        with pytest.raises(MigrationError):
            await migrate_up(conn, schema, load_migrations(folder))

        # Put back as applied, the new migration goes through; and down reverts both.
        up.write_text(f"CREATE TABLE {schema}.things (id integer PRIMARY KEY);\n")
        assert await migrate_up(conn, schema, load_migrations(folder)) == 1
        assert await conn.fetchval("SELECT to_regclass($1)", f"{schema}.more") is not None
        assert await migrate_down(conn, schema, load_migrations(folder), 0) == 2
        assert await conn.fetchval("SELECT to_regclass($1)", f"{schema}.things") is None
    finally:
        await conn.close()


async def test_event_store_refuses_a_tampered_migration_record(fresh_dsn: str) -> None:
    await migrate(fresh_dsn)
    conn = await asyncpg.connect(fresh_dsn)
    try:
        await conn.execute(
            "UPDATE eventstore.schema_migrations SET checksum = 'edited' WHERE version = 2"
        )
    finally:
        await conn.close()
    with pytest.raises(MigrationError, match="changed after it was applied"):
        await migrate(fresh_dsn)


async def run_cli(dsn: str, *args: str) -> tuple[int, str]:
    return await run_service_module("eventstore", dsn, "migrate", *args)


async def test_migrate_command_line(fresh_dsn: str) -> None:
    code, output = await run_cli(fresh_dsn)
    assert code == 0, output
    first = await applied(fresh_dsn)
    assert [r[0] for r in first] == ALL_VERSIONS
    code, output = await run_cli(fresh_dsn, "up")
    assert code == 0, output
    assert await applied(fresh_dsn) == first
    code, output = await run_cli(fresh_dsn, "down", "0")
    assert code == 0, output
    assert await applied(fresh_dsn) == []
    code, output = await run_cli(fresh_dsn, "sideways")
    assert code == 2
    assert "usage" in output


async def test_migrate_command_line_bad_target_is_a_usage_error() -> None:
    # Like any other malformed command line: usage on stderr and exit status 2,
    # not a traceback. (Rejected before connecting, so no database is needed.)
    code, output = await run_cli("postgresql://nobody@127.0.0.1:9/none", "down", "zero")
    assert code == 2, output
    assert "usage" in output


async def test_a_migration_that_raced_a_catalog_change_is_tried_again(
    fresh_dsn: str, tmp_path: Path
) -> None:
    """TimescaleDB's background jobs can make DDL fail with "tuple concurrently updated":
    nothing of the migration was applied, so the runner tries it again (a few times). A
    sequence (not rolled back) counts the attempts; the first two fail as such a race does."""
    schema = f"mig_{uuid.uuid4().hex[:10]}"
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_things.up.sql").write_text(
        f"""
        CREATE TABLE {schema}.things (id integer PRIMARY KEY);
        DO $$ BEGIN
            IF nextval('public.{schema}_attempts') < 3 THEN
                RAISE EXCEPTION 'tuple concurrently updated' USING ERRCODE = 'XX000';
            END IF;
        END $$;
        """
    )
    (folder / "0001_things.down.sql").write_text(f"DROP TABLE {schema}.things;\n")
    (folder / "0002_fails.up.sql").write_text("SELECT 1 / 0;\n")
    (folder / "0002_fails.down.sql").write_text("SELECT 1;\n")
    conn = await asyncpg.connect(fresh_dsn)
    try:
        await conn.execute(f"CREATE SEQUENCE public.{schema}_attempts")
        with pytest.raises(asyncpg.DivisionByZeroError):  # any other error is not retried
            await migrate_up(conn, schema, load_migrations(folder))
        assert await conn.fetchval(f"SELECT last_value FROM public.{schema}_attempts") == 3
        versions = await conn.fetch(f"SELECT version FROM {schema}.schema_migrations")
        assert [r["version"] for r in versions] == [1]
    finally:
        await conn.close()
