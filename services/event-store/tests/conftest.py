"""Fixtures: a real event store (gRPC on port 0) on a fresh database and real NATS."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

import grpc
import pytest
from eventstore.bootstrap import EventStore, build, migrate
from eventstore.config import Settings
from eventstore.domain.commands import Limits
from fundledger.eventstore.v1 import eventstore_pb2_grpc
from fundledger_platform.settings import ServerSettings


def make_settings(dsn: str, nats_url: str, **overrides: Any) -> Settings:
    tag = uuid.uuid4().hex[:10]
    settings = Settings(
        server=ServerSettings(
            service_name="event-store",
            grpc_host="127.0.0.1",
            grpc_port=0,
            metrics_port=-1,
            log_level="WARNING",
            otlp_endpoint=None,
            shutdown_grace_seconds=2.0,
        ),
        database_url=dsn,
        nats_url=nats_url,
        db_pool_min=2,
        db_pool_max=10,
        limits=Limits(max_events=100, max_event_bytes=64 * 1024, max_append_bytes=256 * 1024),
        group_max_appends=256,
        group_max_events=5000,
        relay_enabled=True,
        relay_batch_size=100,
        relay_poll_seconds=0.2,
        # Per-test bus stream and subjects, so tests sharing one NATS never mix.
        bus_stream=f"T_{tag}",
        bus_subject_prefix=f"t{tag}.events",
        bus_duplicate_window_seconds=600.0,
        bus_max_age_seconds=0.0,
        subscribe_poll_seconds=0.2,
        partition_days_ahead=2,
        retention_days=0,
        timescale_chunk_hours=24,
        maintenance_interval_seconds=3600.0,
    )
    return replace(settings, **overrides)


StoreFactory = Callable[..., Any]


@pytest.fixture
async def store_factory(fresh_dsn: str, nats_server: Any) -> AsyncIterator[Callable[..., Any]]:
    """Starts event stores on the test's fresh database; stops them all afterwards.
    Call with Settings overrides, e.g. `await store_factory(relay_enabled=False)`."""
    started: list[EventStore] = []
    await migrate(fresh_dsn)

    async def start(**overrides: Any) -> EventStore:
        settings = make_settings(fresh_dsn, nats_server.url, **overrides)
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
