"""Least privilege behind the services (issue 10 §2b), checked from outside the session's whole
stack (tests/support/full_stack.py) with the credentials it generated: each service reaches
PostgreSQL with a role confined to its own schema, NATS with a user allowed only its own
subjects, and only the storage service holds S3 keys; what a service must not do is refused,
what it must do still works, and no password reaches a log line.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import nats
import nats.errors
import pytest
from fundledger.eventstore.v1 import events_pb2, eventstore_pb2, eventstore_pb2_grpc
from fundledger.projector.v1 import projector_pb2, projector_pb2_grpc
from fundledger_cli.bus_tail import TailOptions, bus_user, tail
from fundledger_devstack.access import ACCESS, BUS_STREAM, BUS_SUBJECT_PREFIX, TOOL_USERS
from fundledger_devstack.credentials import StackCredentials
from fundledger_devstack.nats_auth import credential_name
from fundledger_devstack.pg_roles import SchemaLogins, logins_for
from fundledger_devstack.stack_access import S3_ACCESS_KEY, admin_dsn
from nats.aio.client import Client

from tests.support.full_stack import FullStack

SCHEMAS = {a.service: a.schema for a in ACCESS.values() if a.schema is not None}
# Bounded waits for the bus (never an assertion on how long something took).
WAIT_ROUNDS = 200
WAIT_SECONDS = 0.05


# -- helpers ----------------------------------------------------------------------------------


def _logins(full_stack: FullStack, service: str) -> SchemaLogins:
    return logins_for(SCHEMAS[service], StackCredentials(full_stack.stack_dir))


def _dsn(full_stack: FullStack, role: str, password: str) -> str:
    url = urlsplit(full_stack.endpoints["postgres"])
    return f"postgresql://{role}:{password}@{url.hostname}:{url.port}/fundledger"


async def _connect_as(full_stack: FullStack, service: str) -> asyncpg.Connection:
    login = _logins(full_stack, service).service
    return await asyncpg.connect(_dsn(full_stack, login.role, login.password))


class BusUser:
    """A NATS connection as one service's user, collecting the server's refusals."""

    def __init__(self, client: Client, errors: list[str]) -> None:
        self.client = client
        self.errors = errors

    async def refused(self, words: str) -> bool:
        """Whether the server reported a refusal containing ``words`` (bounded wait; nats-py
        reports the server's message lower-cased)."""
        await self.client.flush()
        for _ in range(WAIT_ROUNDS):
            if any(words.lower() in error.lower() for error in self.errors):
                return True
            await asyncio.sleep(WAIT_SECONDS)
        return False


BusAs = Callable[[str], Awaitable[BusUser]]


@pytest.fixture
async def bus_as(full_stack: FullStack) -> AsyncIterator[BusAs]:
    opened: list[Client] = []

    async def connect(service: str) -> BusUser:
        tools = {t.user: t for t in TOOL_USERS}
        grant = tools[service] if service in tools else ACCESS[service].bus
        assert grant is not None
        password = StackCredentials(full_stack.stack_dir).password(credential_name(grant.user))
        errors: list[str] = []

        async def on_error(err: Exception) -> None:
            errors.append(str(err))

        client = await nats.connect(
            full_stack.endpoints["nats"],
            user=grant.user,
            password=password,
            inbox_prefix=grant.inbox_prefix,
            error_cb=on_error,
            allow_reconnect=False,
        )
        opened.append(client)
        return BusUser(client, errors)

    yield connect
    for client in opened:
        await client.close()


async def _append_fund(full_stack: FullStack) -> None:
    """A new fund's FUND_CREATED, through the event store's API as an admin."""
    channel = full_stack.secure.channel(full_stack.address("event-store"))
    try:
        created = {"name": "Least privilege", "committed_capital_cents": 10**8, "currency": "EUR"}
        await eventstore_pb2_grpc.EventStoreServiceStub(channel).AppendToStream(
            eventstore_pb2.AppendToStreamRequest(
                stream_id=f"fund-least-privilege-{uuid.uuid4().hex}",
                expected_state=eventstore_pb2.STREAM_STATE_NO_STREAM,
                events=[
                    events_pb2.EventData(
                        event_type="FUND_CREATED", data=json.dumps(created).encode()
                    )
                ],
            ),
            timeout=10,
        )
    finally:
        await channel.close(None)


async def _last_sequence(bus: BusUser) -> int:
    info = await bus.client.jetstream().stream_info(BUS_STREAM)
    return int(info.state.last_seq)


# -- PostgreSQL ---------------------------------------------------------------------------------


async def test_the_projector_cannot_write_events_nor_read_other_schemas(
    full_stack: FullStack,
) -> None:
    conn = await _connect_as(full_stack, "projector")
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
            logins = _logins(full_stack, service)
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
        conn = await _connect_as(full_stack, service)
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
    conn = await _connect_as(full_stack, "event-store")
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
        _dsn(full_stack, _logins(full_stack, "projector").service.role, "wrong"),
        _dsn(full_stack, "eventstore_owner", _logins(full_stack, "projector").owner.password),
    ]
    for dsn in attempts:
        with pytest.raises(asyncpg.InvalidAuthorizationSpecificationError):
            await asyncpg.connect(dsn)


# -- NATS -----------------------------------------------------------------------------------------


async def test_a_client_without_credentials_is_refused(full_stack: FullStack) -> None:
    errors: list[str] = []

    async def on_error(err: Exception) -> None:
        errors.append(str(err))

    with pytest.raises(nats.errors.Error):
        await nats.connect(
            full_stack.endpoints["nats"],
            error_cb=on_error,
            allow_reconnect=False,
            connect_timeout=5,
        )
    assert any("authorization" in error.lower() for error in errors), errors


async def test_a_consumer_cannot_publish_events(full_stack: FullStack, bus_as: BusAs) -> None:
    connect = bus_as
    projector = await connect("projector")
    event_store = await connect("event-store")
    before = await _last_sequence(event_store)

    subject = f"{BUS_SUBJECT_PREFIX}.fund.fund-least-privilege-{uuid.uuid4().hex}"
    await projector.client.publish(subject, b'{"forged": true}')
    assert await projector.refused("Permissions Violation for Publish")
    assert await _last_sequence(event_store) == before


async def test_a_consumer_cannot_reach_another_consumers_inbox_or_consumer(
    bus_as: BusAs,
) -> None:
    connect = bus_as
    projector = await connect("projector")
    snapshotter_inbox = ACCESS["snapshotter"].bus
    assert snapshotter_inbox is not None

    await projector.client.subscribe(f"{snapshotter_inbox.inbox_prefix}.>")
    assert await projector.refused("Permissions Violation for Subscription")
    # Nor the event subjects themselves: a consumer reads through its own durable only.
    await projector.client.subscribe(f"{BUS_SUBJECT_PREFIX}.>")
    assert await projector.refused(f'Subscription to "{BUS_SUBJECT_PREFIX}.>"')
    for api in ("CONSUMER.MSG.NEXT", "CONSUMER.INFO", "CONSUMER.DELETE"):
        subject = f"$JS.API.{api}.{BUS_STREAM}.snapshotter"
        await projector.client.publish(subject, b"", reply=projector.client.new_inbox())
        assert await projector.refused(f'Publish to "{subject}"')


async def test_events_flow_from_the_event_store_through_each_consumers_own_user(
    full_stack: FullStack, bus_as: BusAs
) -> None:
    """An append through the API is published by the event store's user and pulled and acked
    by the projector's and the snapshotter's: each sees its own durable caught up."""
    connect = bus_as
    event_store = await connect("event-store")
    before = await _last_sequence(event_store)

    await _append_fund(full_stack)

    for _ in range(WAIT_ROUNDS):
        last = await _last_sequence(event_store)
        if last > before:
            break
        await asyncio.sleep(WAIT_SECONDS)
    assert last > before, "the event store's relay did not publish"

    for service in ("projector", "snapshotter"):
        consumer = await connect(service)
        js = consumer.client.jetstream()
        for _ in range(WAIT_ROUNDS):
            info = await js.consumer_info(BUS_STREAM, service)
            if info.ack_floor is not None and (info.ack_floor.stream_seq or 0) >= last:
                break
            await asyncio.sleep(WAIT_SECONDS)
        assert info.ack_floor is not None, service
        assert (info.ack_floor.stream_seq or 0) >= last, service
        assert consumer.errors == [], consumer.errors


# -- what each process holds, and what the logs show ------------------------------------------


def _service_environments(full_stack: FullStack) -> Iterator[tuple[str, dict[str, str]]]:
    """Each service process's environment, found by its gRPC port under /proc."""
    ports = {
        full_stack.address(service).rsplit(":", 1)[1]: service
        for service in ACCESS
        if service in full_stack.endpoints
    }
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            raw = (proc / "environ").read_bytes()
        except OSError:
            continue
        env = dict(
            item.split("=", 1) for item in raw.decode(errors="replace").split("\0") if "=" in item
        )
        if env.get("FUNDLEDGER_GRPC_PORT") in ports and "FUNDLEDGER_GRPC_HOST" in env:
            yield ports[env["FUNDLEDGER_GRPC_PORT"]], env


def test_each_service_holds_only_its_own_credentials(full_stack: FullStack) -> None:
    found = dict(_service_environments(full_stack))
    assert set(found) == set(ACCESS)
    for service, env in found.items():
        access = ACCESS[service]
        holds_s3 = any(var.startswith("FUNDLEDGER_S3_") for var in env)
        assert holds_s3 == access.s3, service
        if access.s3:
            assert env["FUNDLEDGER_S3_ACCESS_KEY"] == S3_ACCESS_KEY
        database = env.get("FUNDLEDGER_DATABASE_URL")
        if access.schema is None:
            assert database is None, service
        else:
            assert urlsplit(database).username == f"{access.schema}_service", service
        bus = env.get("FUNDLEDGER_NATS_URL")
        if access.bus is None:
            assert bus is None, service
        else:
            assert urlsplit(bus).username == access.bus.user, service
            assert env["FUNDLEDGER_NATS_INBOX_PREFIX"] == access.bus.inbox_prefix


def test_no_password_reaches_a_log_or_the_endpoints(full_stack: FullStack) -> None:
    credentials = StackCredentials(full_stack.stack_dir)
    secrets = [path.read_text().strip() for path in sorted(credentials.dir.iterdir())]
    assert secrets
    for path in credentials.dir.iterdir():
        assert path.stat().st_mode & 0o077 == 0, path
    assert credentials.dir.stat().st_mode & 0o077 == 0
    files = [*full_stack.stack_dir.glob("*.log"), full_stack.stack_dir / "endpoints.json"]
    files += [*full_stack.stack_dir.glob("*.out")]
    for path in files:
        if path.is_file():
            text = path.read_text(errors="replace")
            assert not any(secret in text for secret in secrets), path


async def test_the_cli_tool_user_tails_but_cannot_publish_or_take_a_consumer(
    full_stack: FullStack, bus_as: BusAs
) -> None:
    # An event is on the stream whatever ran before: append one.
    await _append_fund(full_stack)
    url = full_stack.endpoints["nats"]
    user = bus_user(url, full_stack.stack_dir)
    assert user is not None
    assert user.user == TOOL_USERS[0].user
    options = TailOptions(
        url=url,
        bus_stream=BUS_STREAM,
        subject=f"{BUS_SUBJECT_PREFIX}.>",
        from_start=True,
        count=1,
        seconds=30,
        connect_timeout=5,
        user=user,
    )
    assert await tail(options, lambda: None, lambda _event: None) == 1

    cli = await bus_as("cli")
    subject = f"{BUS_SUBJECT_PREFIX}.fund.fund-least-privilege-{uuid.uuid4().hex}"
    await cli.client.publish(subject, b"{}")
    assert await cli.refused(f'Publish to "{subject}"')
    for forbidden in (
        f"$JS.API.CONSUMER.CREATE.{BUS_STREAM}.projector.{BUS_SUBJECT_PREFIX}.fund.>",
        f"$JS.API.CONSUMER.DURABLE.CREATE.{BUS_STREAM}.projector",
        f"$JS.API.CONSUMER.MSG.NEXT.{BUS_STREAM}.projector",
    ):
        await cli.client.publish(forbidden, b"{}", reply=cli.client.new_inbox())
        assert await cli.refused(f'Publish to "{forbidden}"')
    # The one create subject it has makes unnamed consumers only: naming the projector's
    # durable in the request is refused by the server, so it cannot take that consumer over.
    for config in ({"durable_name": "projector"}, {"name": "projector"}):
        reply = await cli.client.request(
            f"$JS.API.CONSUMER.CREATE.{BUS_STREAM}",
            json.dumps({"stream_name": BUS_STREAM, "config": config}).encode(),
            timeout=10,
        )
        assert "error" in json.loads(reply.data), (config, reply.data)


async def test_runtime_ddl_works_and_every_table_stays_with_its_schema_owner(
    full_stack: FullStack,
) -> None:
    """The projector's rebuild swaps its table and the event store made its day partitions at
    start: both act as their schema's owner, so whatever they created belongs to the owner (and
    the next migration, run as the owner, can still alter it)."""
    await _append_fund(full_stack)
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
