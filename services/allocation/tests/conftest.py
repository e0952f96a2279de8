"""Fixtures: a real event store (PostgreSQL + NATS) and a real allocation service over gRPC.

Both run secure, as the local stack does: allocation serves TLS with authentication and the
policy and calls the event store with its own service token; the stubs call as admin "alice"
of tenant "dev" (so the funds the tests seed belong to "dev")."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import grpc
import pytest
from allocation.bootstrap import Allocation, build
from allocation_stack import Stack, StackFactory, allocation_settings
from fundledger.allocation.v1 import allocation_pb2_grpc
from fundledger.eventstore.v1 import eventstore_pb2_grpc

from tests.support.event_store import EventStoreFactory
from tests.support.secure import SecureEnv


@pytest.fixture
async def stack_factory(
    event_store_factory: EventStoreFactory, secure_env: SecureEnv
) -> AsyncIterator[StackFactory]:
    """Starts one event store, then allocation services on demand (Settings overrides);
    stops the allocation services before the store goes away."""
    store = await event_store_factory()
    store_address = f"127.0.0.1:{store.server.port}"
    started: list[Allocation] = []
    channels: list[grpc.aio.Channel] = []
    store_channel = secure_env.channel(store_address)
    channels.append(store_channel)

    async def start(**overrides: Any) -> Stack:
        base = allocation_settings(store_address)
        settings = replace(base, server=secure_env.server_settings(base.server), **overrides)
        allocation = build(settings, eventstore_token=secure_env.service_token("allocation"))
        await allocation.server.start()
        started.append(allocation)
        channel = secure_env.channel(allocation.server.address)
        channels.append(channel)
        return Stack(
            secure=secure_env,
            allocation=allocation,
            api=allocation_pb2_grpc.AllocationServiceStub(channel),
            store=eventstore_pb2_grpc.EventStoreServiceStub(store_channel),
            store_address=store_address,
            store_db=store.pool,
        )

    yield start
    for channel in channels:
        await channel.close(None)
    for allocation in reversed(started):
        await allocation.server.stop(1.0)


@pytest.fixture
async def stack(stack_factory: StackFactory) -> Stack:
    return await stack_factory()
