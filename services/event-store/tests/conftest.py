"""Fixtures: a real event store (gRPC on port 0) on a fresh database and real NATS, run the way
the stack runs it — TLS, authentication (the dev issuer's tokens) and the repository's policy.

``stub`` calls as the default test person (admin "alice" of tenant "dev");
``as_caller(subject, roles=…, tenant=…)`` gives a stub calling as someone else, and
``as_service(name)`` one calling with a service's own token.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import Any

import eventstore_support
import grpc
import pytest
from eventstore.bootstrap import EventStore, build, migrate
from fundledger.eventstore.v1 import events_pb2, eventstore_pb2_grpc
from fundledger.eventstore.v1 import eventstore_pb2 as pb
from fundledger_devstack.security import audience_of

from tests.support.event_store import eventstore_settings
from tests.support.secure import SecureEnv
from tests.support.server_settings import loopback_server_settings

StoreFactory = Callable[..., Any]


@pytest.fixture(autouse=True)
def _secure_channels(secure_env: SecureEnv) -> Iterator[None]:
    """Lets the support modules open channels to the stores under test."""
    eventstore_support.SECURE = secure_env
    yield
    eventstore_support.SECURE = None


@pytest.fixture
async def store_factory(
    fresh_dsn: str, nats_server: Any, secure_env: SecureEnv
) -> AsyncIterator[Callable[..., Any]]:
    """Starts event stores on the test's fresh database; stops them all afterwards.
    Call with Settings overrides, e.g. `await store_factory(relay_enabled=False)`; a `server`
    override replaces the secure server settings."""
    started: list[EventStore] = []
    await migrate(fresh_dsn)
    secure = secure_env.server_settings(loopback_server_settings("event-store"))

    async def start(**overrides: Any) -> EventStore:
        # Each store gets a bus stream and subject prefix of its own.
        overrides.setdefault("server", secure)
        settings = eventstore_settings(fresh_dsn, nats_server.url, **overrides)
        store = await build(settings)
        await store.server.start()
        started.append(store)
        return store

    yield start
    for store in reversed(started):
        await store.server.stop(1.0)


@pytest.fixture
async def store(store_factory: Callable[..., Any]) -> EventStore:
    result: EventStore = await store_factory()
    return result


@pytest.fixture
async def stub(store: EventStore) -> AsyncIterator[eventstore_pb2_grpc.EventStoreServiceStub]:
    async with eventstore_support.open_channel(store) as channel:
        yield eventstore_pb2_grpc.EventStoreServiceStub(channel)


@pytest.fixture
async def quiet_stub(store_factory: Callable[..., Any]) -> AsyncIterator[Any]:
    """A stub to an event store without the relay, for tests that write a lot and
    do not need the bus (publishing thousands of events one ack at a time only
    slows them down)."""
    quiet: EventStore = await store_factory(relay_enabled=False)
    async with eventstore_support.open_channel(quiet) as channel:
        yield eventstore_pb2_grpc.EventStoreServiceStub(channel)


@pytest.fixture
async def walked(store_factory: Callable[..., Any]) -> AsyncIterator[tuple[EventStore, Any]]:
    """A store without the leader's hash-chain back-fill (nor the relay): the test walks it
    itself (adapters/chain_backfill.py)."""
    walked_store: EventStore = await store_factory(
        relay_enabled=False, chain_backfill_enabled=False
    )
    async with eventstore_support.open_channel(walked_store) as channel:
        yield walked_store, eventstore_pb2_grpc.EventStoreServiceStub(channel)


CallerStub = Callable[..., eventstore_pb2_grpc.EventStoreServiceStub]


@pytest.fixture
async def as_caller(store: EventStore, secure_env: SecureEnv) -> AsyncIterator[CallerStub]:
    """Stubs calling `store` as a person: ``as_caller("bob", roles=("fund-viewer",),
    tenant="acme")`` (roles default to admin, tenant to "dev")."""
    channels: list[grpc.aio.Channel] = []

    def make(
        subject: str, *, roles: Sequence[str] = ("admin",), tenant: str | None = "dev"
    ) -> eventstore_pb2_grpc.EventStoreServiceStub:
        token = secure_env.token(subject, roles=roles, tenant=tenant)
        channel = eventstore_support.open_channel(store, token)
        channels.append(channel)
        return eventstore_pb2_grpc.EventStoreServiceStub(channel)

    yield make
    for channel in channels:
        await channel.close()


@pytest.fixture
async def as_service(store: EventStore, secure_env: SecureEnv) -> AsyncIterator[CallerStub]:
    """Stubs calling `store` with a service's own token: ``as_service("projector")``."""
    channels: list[grpc.aio.Channel] = []

    def make(service: str) -> eventstore_pb2_grpc.EventStoreServiceStub:
        channel = eventstore_support.open_channel(store, secure_env.service_token(service).token())
        channels.append(channel)
        return eventstore_pb2_grpc.EventStoreServiceStub(channel)

    yield make
    for channel in channels:
        await channel.close()


Put = Callable[..., Awaitable[pb.AppendToStreamResponse]]


@pytest.fixture
async def put(store: EventStore, secure_env: SecureEnv) -> AsyncIterator[Put]:
    """``await put(stream_id, *events, **request_fields)``: appends ``events`` written by the
    users their ``user_id`` fields name. The server records the caller, never the field, so
    each run of consecutive events of one user is one append by that user (an admin of tenant
    "dev"), and events naming no user are appended by a service (recorded without a user).
    Returns the first append's response."""
    channels: dict[str, grpc.aio.Channel] = {}

    def stub_of(user: str) -> eventstore_pb2_grpc.EventStoreServiceStub:
        if user not in channels:
            if user:
                token = secure_env.token(user)
            else:
                # A service with every permission: recorded as the actor, without a user.
                token = secure_env.security.issuer.mint(
                    "fundledger-test-service",
                    audience_of("event-store"),
                    roles=["admin"],
                    kind="service",
                )
            channels[user] = eventstore_support.open_channel(store, token)
        return eventstore_pb2_grpc.EventStoreServiceStub(channels[user])

    async def append(
        stream_id: str, *events: events_pb2.EventData, **fields: Any
    ) -> pb.AppendToStreamResponse:
        responses = [
            await stub_of(user).AppendToStream(
                pb.AppendToStreamRequest(stream_id=stream_id, events=list(run), **fields)
            )
            for user, run in itertools.groupby(events, key=lambda e: e.user_id)
        ]
        return responses[0]

    yield append
    for channel in channels.values():
        await channel.close()
