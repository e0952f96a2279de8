"""Fixtures: a real event store and a real snapshotter on one fresh database, real NATS.

Both run secure, as the local stack does: the snapshotter serves TLS with authentication and
the policy and calls the event store with its own service token; the stubs call as admin
"alice" of tenant "dev" (so the funds the tests append belong to "dev")."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest
from fundledger.eventstore.v1 import eventstore_pb2_grpc
from fundledger.snapshotter.v1 import snapshotter_pb2_grpc
from snapshotter.bootstrap import Snapshotter, build, migrate
from snapshotter_stack import Stack, StackFactory, snapshotter_settings
from snapshotter_support import ManualClock

from tests.support.event_store import EventStoreFactory
from tests.support.secure import SecureEnv


@pytest.fixture
async def stack_factory(
    fresh_dsn: str,
    nats_server: Any,
    event_store_factory: EventStoreFactory,
    secure_env: SecureEnv,
) -> AsyncIterator[StackFactory]:
    """Starts the event store once, then snapshotters on demand (Settings overrides, plus
    `clock=`); stops the snapshotters before the store goes away."""
    tag = uuid.uuid4().hex[:10]
    stream, prefix = f"SNAP_{tag}", f"snap{tag}.events"
    store = await event_store_factory(bus_stream=stream, bus_subject_prefix=prefix)
    await migrate(fresh_dsn)
    started: list[Snapshotter] = []
    channels: list[grpc.aio.Channel] = []
    store_channel = secure_env.channel(f"127.0.0.1:{store.server.port}")
    channels.append(store_channel)

    async def start(*, clock: ManualClock | None = None, **overrides: Any) -> Stack:
        base = snapshotter_settings(
            fresh_dsn, nats_server.url, f"127.0.0.1:{store.server.port}", stream, prefix
        )
        manual = clock or ManualClock(datetime.now(UTC))
        settings = replace(base, server=secure_env.server_settings(base.server), **overrides)
        snapshotter = await build(
            settings, clock=manual, eventstore_token=secure_env.service_token("snapshotter")
        )
        await snapshotter.server.start()
        started.append(snapshotter)
        channel = secure_env.channel(f"127.0.0.1:{snapshotter.server.port}")
        channels.append(channel)
        return Stack(
            secure=secure_env,
            snapshotter=snapshotter,
            store_stub=eventstore_pb2_grpc.EventStoreServiceStub(store_channel),
            api=snapshotter_pb2_grpc.SnapshotterServiceStub(channel),
            clock=manual,
            dsn=fresh_dsn,
            settings=settings,
        )

    yield start
    for channel in channels:
        await channel.close(None)
    for snapshotter in reversed(started):
        await snapshotter.server.stop(1.0)


@pytest.fixture
async def stack(stack_factory: StackFactory) -> Stack:
    return await stack_factory()
