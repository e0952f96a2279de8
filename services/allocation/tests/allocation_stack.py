"""The stack the allocation integration tests run against, and its settings."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
from allocation.bootstrap import Allocation
from allocation.config import Settings

from tests.support.secure import SecureEnv
from tests.support.server_settings import loopback_server_settings


@dataclass
class Stack:
    """A real event store and an allocation service reading and appending through it."""

    secure: SecureEnv
    allocation: Allocation
    # Any: the generated stubs are typed for the sync API, these are grpc.aio ones.
    api: Any  # fundledger.allocation.v1 AllocationServiceStub
    store: Any  # fundledger.eventstore.v1 EventStoreServiceStub
    store_address: str
    # The event store's database: only for tests that damage the log as an operator or a
    # broken restore could (allocation itself never touches it).
    store_db: asyncpg.Pool


StackFactory = Callable[..., Awaitable[Stack]]


def allocation_settings(eventstore_address: str) -> Settings:
    return Settings(
        server=loopback_server_settings("allocation"),
        eventstore_address=eventstore_address,
        eventstore_timeout_seconds=10.0,
        concentration_bps=3000,
        fund_share_bps=5000,
        max_proposals=99,
        cache_funds=100,
    )
