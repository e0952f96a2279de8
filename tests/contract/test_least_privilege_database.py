"""Least privilege in PostgreSQL (issue 10 §2b), from outside the session's whole stack: each
service's role reaches its own schema only, only the event store writes events, and runtime DDL
leaves every table with its schema's owner."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

import asyncpg
import pytest
from fundledger.projector.v1 import projector_pb2, projector_pb2_grpc
from fundledger_devstack.stack_access import admin_dsn

from tests.contract.least_privilege_support import (
    SCHEMAS,
    append_fund,
    connect_as,
    role_dsn,
    service_logins,
)
from tests.support.full_stack import FullStack


async def test_the_projector_cannot_write_events_nor_read_other_schemas(
    full_stack: FullStack,
) -> None:
    conn = await connect_as(full_stack, "projector")
    try:
        assert await conn.fetchval("SELECT count(*) FROM projector.fund_state") >= 0
        refused = [
            "INSERT INTO eventstore.events (position, stream_id, category, version, event_id, "
            "event_type, schema_version, data, metadata, payload_hash, recorded_at) VALUES "
            "(1, 'fund-x', 'fund', 1, gen_random_uuid(), 'FUND_CREATED', 1, '{}', '{}', "
            "'\\x00', now())",
            "UPDATE eventstore.streams SET version = version + 1",
            "SELECT count(*) FROM eventstore.events",
            "SELECT count(*) FROM snapshotter.snapshots",
            "SELECT count(*) FROM storage.files",
            "CREATE TABLE public.sneaky (id int)",
        ]
        for statement in refused:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(statement)
    finally:
        await conn.close()


async def test_each_role_reaches_its_own_schema_only_and_only_the_event_store_writes_events(
    full_stack: FullStack,
) -> None:
    admin = await asyncpg.connect(admin_dsn(full_stack.stack_dir, full_stack.endpoints["postgres"]))
    try:
        for service, own in SCHEMAS.items():
            logins = service_logins(full_stack, service)
            for role in (logins.service.role, logins.owner.role):
                for schema in SCHEMAS.values():
                    usage = await admin.fetchval(
                        "SELECT has_schema_privilege($1, $2, 'USAGE')", role, schema
                    )
                    assert usage == (schema == own), (role, schema)
                writes_events = await admin.fetchval(
                    "SELECT has_table_privilege($1, 'eventstore.events', 'INSERT')", role
                )
                assert writes_events == (service == "event-store"), role
                # Nothing but the stack's own roles has a superuser's powers.
                assert not await admin.fetchval(
                    "SELECT rolsuper OR rolcreaterole OR rolcreatedb OR rolbypassrls "
                    "FROM pg_roles WHERE rolname = $1",
                    role,
                )
    finally:
        await admin.close()


async def test_roles_without_runtime_ddl_only_read_and_write_their_tables(
    full_stack: FullStack,
) -> None:
    for service, table in (("snapshotter", "snapshotter.snapshots"), ("storage", "storage.files")):
        conn = await connect_as(full_stack, service)
        try:
            assert await conn.fetchval(f"SELECT count(*) FROM {table}") >= 0
            schema = SCHEMAS[service]
            for statement in (
                f"CREATE TABLE {schema}.sneaky (id int)",
                f"DROP TABLE {table}",
                f"ALTER TABLE {table} ADD COLUMN sneaky int",
            ):
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await conn.execute(statement)
        finally:
            await conn.close()


async def test_the_event_store_role_writes_events(full_stack: FullStack) -> None:
    conn = await connect_as(full_stack, "event-store")
    try:
        tx = conn.transaction()
        await tx.start()
        try:
            inserted = await conn.execute(
                "INSERT INTO eventstore.events (position, stream_id, category, version, "
                "event_id, event_type, schema_version, data, metadata, payload_hash, "
                "recorded_at) VALUES (-1, 'fund-least-privilege', 'fund', 1, $1, "
                "'FUND_CREATED', 1, '{}', '{}', '\\x00', now())",
                uuid.uuid4(),
            )
            assert inserted == "INSERT 0 1"
        finally:
            await tx.rollback()  # the row was only a proof: nothing stays
    finally:
        await conn.close()


async def test_logins_over_tcp_need_the_right_password(full_stack: FullStack) -> None:
    url = urlsplit(full_stack.endpoints["postgres"])
    attempts = [
        f"postgresql://postgres@{url.hostname}:{url.port}/fundledger",  # superuser: socket only
        role_dsn(full_stack, service_logins(full_stack, "projector").service.role, "wrong"),
        role_dsn(
            full_stack, "eventstore_owner", service_logins(full_stack, "projector").owner.password
        ),
    ]
    for dsn in attempts:
        with pytest.raises(asyncpg.InvalidAuthorizationSpecificationError):
            await asyncpg.connect(dsn)


# -- NATS -----------------------------------------------------------------------------------------


async def test_runtime_ddl_works_and_every_table_stays_with_its_schema_owner(
    full_stack: FullStack,
) -> None:
    """The projector's rebuild swaps its table and the event store made its day partitions at
    start: both act as their schema's owner, so whatever they created belongs to the owner (and
    the next migration, run as the owner, can still alter it)."""
    await append_fund(full_stack)
    # An operator bound to no tenant: the rebuild that swaps the whole table (a tenant's admin
    # only refolds their tenant's funds in place).
    secure = full_stack.secure
    channel = secure.channel(full_stack.address("projector"), secure.operator_token())
    try:
        rebuilt = await projector_pb2_grpc.ProjectorServiceStub(channel).RebuildProjection(
            projector_pb2.RebuildProjectionRequest(), timeout=120
        )
    finally:
        await channel.close(None)
    assert rebuilt.fund_count >= 1

    admin = await asyncpg.connect(admin_dsn(full_stack.stack_dir, full_stack.endpoints["postgres"]))
    try:
        partitions = await admin.fetchval(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'eventstore.events'::regclass"
        )
        assert partitions > 1  # the default one and the days the event store made
        strays = await admin.fetch(
            "SELECT n.nspname, c.relname, pg_get_userbyid(c.relowner) AS owner FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ANY($1::text[]) "
            "AND pg_get_userbyid(c.relowner) <> n.nspname || '_owner'",
            list(SCHEMAS.values()),
        )
        assert [dict(row) for row in strays] == []
    finally:
        await admin.close()
