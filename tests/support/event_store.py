"""A real event store, in-process on port 0, for any test that needs the log:
the event store's own tests and every read model's tests (projector,
snapshotter…), which talk to it over gRPC like production does.

`event_store_factory` starts it the way the local stack does: TLS from the session's CA,
every call authenticated and authorized by the repository's policy (tests/support/secure.py).
A service under test calls it with `secure_env.client_tls()` and its own service token;
a test appends with a person's token (`secure_env.channel(address)`: admin "alice" of
tenant "dev", so the funds it creates belong to tenant "dev")."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import pytest
from eventstore.bootstrap import EventStore, build, migrate
from eventstore.config import Settings
from eventstore.domain.append_request import Limits

from tests.support.secure import SecureEnv
from tests.support.server_settings import loopback_server_settings

EventStoreFactory = Callable[..., Awaitable[EventStore]]


def eventstore_settings(dsn: str, nats_url: str, **overrides: Any) -> Settings:
    """Test settings: port 0, no metrics port, fast polls, and a bus stream and
    subject prefix of its own, so tests sharing one NATS server never mix."""
    tag = uuid.uuid4().hex[:10]
    settings = Settings(
        server=loopback_server_settings("event-store"),
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


@pytest.fixture
async def event_store_factory(
    fresh_dsn: str, nats_server: Any, secure_env: SecureEnv
) -> AsyncIterator[EventStoreFactory]:
    """Starts secure event stores (TLS, authentication, the policy) on the test's fresh
    database (same bus settings for every store of one test unless overridden); stops them
    all afterwards."""
    started: list[EventStore] = []
    await migrate(fresh_dsn)
    base = eventstore_settings(
        fresh_dsn,
        nats_server.url,
        server=secure_env.server_settings(loopback_server_settings("event-store")),
    )

    async def start(**overrides: Any) -> EventStore:
        store = await build(replace(base, **overrides))
        await store.server.start()
        started.append(store)
        return store

    yield start
    for store in reversed(started):
        await store.server.stop(1.0)


@pytest.fixture
async def event_store(event_store_factory: EventStoreFactory) -> EventStore:
    return await event_store_factory()
