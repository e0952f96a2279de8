"""Fixtures: a real event store (gRPC on port 0) on a fresh database and real NATS."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import pytest
from eventstore.bootstrap import EventStore, build, migrate
from fundledger.eventstore.v1 import eventstore_pb2_grpc

from tests.support.event_store import eventstore_settings

StoreFactory = Callable[..., Any]


@pytest.fixture
async def store_factory(fresh_dsn: str, nats_server: Any) -> AsyncIterator[Callable[..., Any]]:
    """Starts event stores on the test's fresh database; stops them all afterwards.
    Call with Settings overrides, e.g. `await store_factory(relay_enabled=False)`."""
    started: list[EventStore] = []
    await migrate(fresh_dsn)

    async def start(**overrides: Any) -> EventStore:
        # Each store gets a bus stream and subject prefix of its own.
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
    async with grpc.aio.insecure_channel(f"127.0.0.1:{store.server.port}") as channel:
        yield eventstore_pb2_grpc.EventStoreServiceStub(channel)


@pytest.fixture
async def quiet_stub(store_factory: Callable[..., Any]) -> AsyncIterator[Any]:
    """A stub to an event store without the relay, for tests that write a lot and
    do not need the bus (publishing thousands of events one ack at a time only
    slows them down)."""
    quiet: EventStore = await store_factory(relay_enabled=False)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{quiet.server.port}") as channel:
        yield eventstore_pb2_grpc.EventStoreServiceStub(channel)
