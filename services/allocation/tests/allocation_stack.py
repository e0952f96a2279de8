"""The stack the allocation integration tests run against, and its settings."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from allocation.bootstrap import Allocation
from allocation.config import Settings
from fundledger_platform.settings import ServerSettings


@dataclass
class Stack:
    """A real event store and an allocation service reading and appending through it."""

    allocation: Allocation
    # Any: the generated stubs are typed for the sync API, these are grpc.aio ones.
    api: Any  # fundledger.allocation.v1 AllocationServiceStub
    store: Any  # fundledger.eventstore.v1 EventStoreServiceStub
    store_address: str


StackFactory = Callable[..., Awaitable[Stack]]


def allocation_settings(eventstore_address: str) -> Settings:
    return Settings(
        server=ServerSettings(
            service_name="allocation",
            grpc_host="127.0.0.1",
            grpc_port=0,
            metrics_port=-1,
            log_level="WARNING",
            otlp_endpoint=None,
            shutdown_grace_seconds=2.0,
        ),
        eventstore_address=eventstore_address,
        eventstore_timeout_seconds=10.0,
        concentration_bps=3000,
        fund_share_bps=5000,
        max_proposals=99,
        cache_funds=100,
    )
