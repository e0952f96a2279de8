"""The port to the event log: what the projector reads from the event store.

fundledger_platform.eventstore_client.EventStoreClient (gRPC) satisfies it; the
projector never reads the event store's tables.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Protocol

from fundledger.eventstore.v1 import eventstore_pb2 as pb
from fundledger.eventstore.v1.events_pb2 import RecordedEvent


class EventSource(Protocol):
    async def read_stream(
        self,
        stream_id: str,
        *,
        from_version: int | None = None,
        max_count: int = 0,
        max_recorded_at: datetime | None = None,
        backwards: bool = False,
    ) -> list[RecordedEvent]: ...

    def read_all(
        self,
        *,
        from_position: int,
        categories: Sequence[str] = (),
        max_count: int = 0,
    ) -> AsyncIterator[RecordedEvent]: ...

    async def head_position(self) -> int: ...

    async def stream_info(self, stream_id: str) -> pb.GetStreamInfoResponse | None: ...


async def read_page(
    source: EventSource, from_position: int, categories: Sequence[str], max_count: int
) -> list[RecordedEvent]:
    """Up to `max_count` events at or after `from_position`, in position order."""
    return [
        e
        async for e in source.read_all(
            from_position=from_position, categories=categories, max_count=max_count
        )
    ]
