"""A real PostgreSQL: answers queries, hands out isolated databases, survives restarts."""

from __future__ import annotations

import os
from pathlib import Path

import asyncpg
import pytest
from fundledger_devstack.ports import free_port
from fundledger_devstack.postgres import PostgresServer


async def test_pg_server_accepts_queries_with_the_expected_settings(
    pg_server: PostgresServer,
) -> None:
    conn = await asyncpg.connect(pg_server.dsn)
    try:
        assert await conn.fetchval("SELECT current_database()") == "fundledger"
        assert await conn.fetchval("SELECT 1 + 1") == 2
        assert await conn.fetchval("SHOW fsync") == "on"
        assert await conn.fetchval("SHOW max_connections") == "200"
        assert await conn.fetchval("SHOW listen_addresses") == "127.0.0.1"
        preload = await conn.fetchval("SHOW shared_preload_libraries")
        assert ("timescaledb" in preload) == pg_server.timescale_available
    finally:
        await conn.close()


@pytest.mark.parametrize("run", [1, 2])
async def test_fresh_dsn_is_a_new_empty_database(
    fresh_dsn: str, pg_server: PostgresServer, run: int
) -> None:
    # Both runs create the same table: the second would fail if they shared a database.
    assert fresh_dsn != pg_server.dsn
    conn = await asyncpg.connect(fresh_dsn)
    try:
        tables = await conn.fetchval(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        )
        assert tables == 0
        await conn.execute("CREATE TABLE marker (run int)")
        await conn.execute("INSERT INTO marker VALUES ($1)", run)
    finally:
        await conn.close()


async def test_restart_reuses_the_data_dir_and_ignores_a_stale_pid_file(tmp_path: Path) -> None:
    server = PostgresServer(tmp_path / "pg", free_port())
    server.start()
    try:
        server.psql("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('x')", "fundledger")
        server.stop()
        assert not server.running
        # A crash leaves postmaster.pid behind, naming a pid that may now belong to an
        # unrelated process: ours, here.
        pid_file = server.data_dir / "postmaster.pid"
        pid_file.write_text(f"{os.getpid()}\n{server.data_dir}\n")
        server.start()
        server.start()  # idempotent
        assert server.psql("SELECT v FROM kept", "fundledger") == "x"
    finally:
        server.stop()
    assert not server.running
