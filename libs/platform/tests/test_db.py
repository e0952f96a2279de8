"""Pools against a real PostgreSQL, started for this module on a free port."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import pytest
from fundledger_devstack.ports import free_port
from fundledger_devstack.postgres import PostgresServer
from fundledger_platform.db import create_pool, ping


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    # Our own temp dir, not tmp_path: pytest prunes old /tmp/pytest-of-<user>
    # dirs at start-up, and another developer's pytest run starting meanwhile
    # can delete a data dir still in use.
    with tempfile.TemporaryDirectory(prefix="fl-platform-pg-") as root:
        server = PostgresServer(Path(root) / "data", free_port())
        server.start()
        try:
            yield server
        finally:
            server.stop()


async def test_sessions_are_named_and_time_limited(postgres: PostgresServer) -> None:
    pool = await create_pool(postgres.dsn, min_size=1, max_size=2, application_name="projector")
    try:
        async with pool.acquire() as conn:
            assert await conn.fetchval("SHOW application_name") == "projector"
            assert await conn.fetchval("SHOW idle_in_transaction_session_timeout") == "1min"
        assert await ping(pool)
    finally:
        await pool.close()


async def test_idle_in_transaction_session_is_ended_by_the_server(
    postgres: PostgresServer,
) -> None:
    pool = await create_pool(postgres.dsn, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            # Shorten the limit for this session only, to see the server enforce it.
            await conn.execute("SET idle_in_transaction_session_timeout = '200ms'")
            transaction = conn.transaction()
            await transaction.start()
            await asyncio.sleep(0.6)
            with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError, OSError)):
                await conn.fetchval("SELECT 1")
    finally:
        pool.terminate()


async def test_ping_is_false_when_the_pool_is_unusable(postgres: PostgresServer) -> None:
    pool = await create_pool(postgres.dsn, min_size=1, max_size=1)
    await pool.close()
    assert await ping(pool) is False


async def test_ping_is_false_when_the_pool_is_exhausted(postgres: PostgresServer) -> None:
    pool = await create_pool(postgres.dsn, min_size=1, max_size=1)
    try:
        async with pool.acquire():
            # The only connection is busy: a ping must give up, not hang a health check.
            assert await ping(pool, timeout_seconds=0.2) is False
        assert await ping(pool) is True
    finally:
        await pool.close()
