"""Fixtures: a real event store (PostgreSQL + NATS) and a real allocation service over gRPC."""

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


@pytest.fixture
async def stack_factory(event_store_factory: EventStoreFactory) -> AsyncIterator[StackFactory]:
    """Starts one event store, then allocation services on demand (Settings overrides);
    stops the allocation services before the store goes away."""
    store = await event_store_factory()
    store_address = f"127.0.0.1:{store.server.port}"
    started: list[Allocation] = []
    channels: list[grpc.aio.Channel] = []
    store_channel = grpc.aio.insecure_channel(store_address)
    channels.append(store_channel)

    async def start(**overrides: Any) -> Stack:
        allocation = build(replace(allocation_settings(store_address), **overrides))
        await allocation.server.start()
        started.append(allocation)
        channel = grpc.aio.insecure_channel(allocation.server.address)
        channels.append(channel)
        return Stack(
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
