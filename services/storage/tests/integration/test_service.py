"""Start-up, health, migrations and settings of the storage service."""

from __future__ import annotations

import asyncio

import asyncpg
from grpc_health.v1 import health_pb2, health_pb2_grpc
from storage.bootstrap import SERVICE_NAME, migrate
from storage_stack import Stack

from tests.support.service_module import run_service_module

SERVING = health_pb2.HealthCheckResponse.SERVING


async def test_bucket_created_at_start_up_and_health_serving(stack: Stack) -> None:
    # The fixture's bucket did not exist before the service started.
    await stack.s3.head_bucket(Bucket=stack.bucket)
    # Health stays open without a token (probes), but only over TLS.
    async with stack.secure.channel(stack.address, token=None) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for name in ("", SERVICE_NAME):
            response = await health.Check(health_pb2.HealthCheckRequest(service=name))
            assert response.status == SERVING


async def test_not_serving_while_the_bucket_does_not_answer(stack: Stack) -> None:
    assert await stack.storage.server.health.refresh()
    # Behind the service's back: once ensured at start-up, a bucket that goes
    # away is an outage to report, not something to quietly recreate.
    await stack.s3.delete_bucket(Bucket=stack.bucket)
    assert not await stack.storage.server.health.refresh()
    await stack.s3.create_bucket(Bucket=stack.bucket)
    assert await stack.storage.server.health.refresh()


async def test_migrations_are_idempotent_and_reversible(stack: Stack) -> None:
    await migrate(stack.dsn)  # already applied by the fixture: nothing to do
    conn = await asyncpg.connect(stack.dsn)
    try:
        tables = {
            r["tablename"]
            for r in await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'storage'"
            )
        }
        assert tables == {"files", "schema_migrations"}
        indexes = {
            r["indexname"]
            for r in await conn.fetch(
                "SELECT indexname FROM pg_indexes WHERE schemaname = 'storage'"
            )
        }
        assert {
            "files_by_owner",
            "files_by_entity",
            "files_by_owner_id",
            "files_by_tenant_id",
        } <= indexes
        columns = {
            r["column_name"]: r["is_nullable"]
            for r in await conn.fetch(
                "SELECT column_name, is_nullable FROM information_schema.columns "
                "WHERE table_schema = 'storage' AND table_name = 'files'"
            )
        }
        # Files stored without authentication have neither.
        assert (columns["tenant"], columns["created_by"]) == ("YES", "YES")
        await stack.storage.server.stop(0.5)
        await migrate(stack.dsn, down_to=0)
        assert await conn.fetchval("SELECT to_regclass('storage.files')") is None
        await migrate(stack.dsn)
        assert await conn.fetchval("SELECT count(*) FROM storage.files") == 0
    finally:
        await conn.close()


async def run_module(dsn: str, *args: str) -> tuple[int, str]:
    return await run_service_module("storage", dsn, *args)


async def test_python_m_storage_migrate_up_and_down(fresh_dsn: str) -> None:
    (code, _), (usage_code, usage) = await asyncio.gather(
        run_module(fresh_dsn, "migrate"), run_module(fresh_dsn, "migrate", "sideways")
    )
    assert code == 0
    assert usage_code == 2
    assert "usage" in usage
    conn = await asyncpg.connect(fresh_dsn)
    try:
        assert await conn.fetchval("SELECT count(*) FROM storage.schema_migrations") == 2
        assert (await run_module(fresh_dsn, "migrate", "down", "0"))[0] == 0
        assert await conn.fetchval("SELECT to_regclass('storage.files')") is None
    finally:
        await conn.close()
