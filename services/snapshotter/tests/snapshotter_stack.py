"""The stack the snapshotter tests run against, and its settings."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import time
from typing import Any

from snapshotter.bootstrap import Snapshotter
from snapshotter.config import Settings
from snapshotter_support import ManualClock, eventually

from tests.support.secure import SecureEnv
from tests.support.server_settings import loopback_server_settings


@dataclass
class Stack:
    """One event store and one snapshotter sharing a database and a bus stream."""

    secure: SecureEnv
    snapshotter: Snapshotter
    # Any: the generated stubs are typed for the sync API, these are grpc.aio ones.
    store_stub: Any  # fundledger.eventstore.v1 EventStoreServiceStub
    api: Any  # fundledger.snapshotter.v1 SnapshotterServiceStub
    clock: ManualClock
    dsn: str
    settings: Settings


StackFactory = Callable[..., Awaitable[Stack]]


def snapshotter_settings(
    dsn: str, nats_url: str, eventstore_address: str, stream: str, prefix: str
) -> Settings:
    return Settings(
        server=loopback_server_settings("snapshotter"),
        database_url=dsn,
        nats_url=nats_url,
        eventstore_address=eventstore_address,
        db_pool_min=1,
        db_pool_max=5,
        bus_stream=stream,
        bus_subject_prefix=prefix,
        # A durable of its own per snapshotter, so two in one test never share.
        durable=f"snap_{uuid.uuid4().hex[:10]}",
        snapshot_every_events=50,
        daily_utc_time=time(0, 0),
        catchup_seconds=1.0,
    )


async def seen_version(stack: Stack, fund_id: str) -> int:
    """The fund version the snapshotter's progress row has reached (0 when none)."""
    async with stack.snapshotter.pool.acquire() as conn:
        value = await conn.fetchval(
            "SELECT last_version FROM snapshotter.fund_progress WHERE fund_id = $1", fund_id
        )
    return 0 if value is None else int(value)


async def wait_seen(stack: Stack, fund_id: str, version: int) -> None:
    async def reached() -> bool:
        return await seen_version(stack, fund_id) >= version

    await eventually(reached, f"the snapshotter to see {fund_id} v{version}")
