"""The event store over gRPC, as the use cases' EventLog port.

Events leave this module as the kernel's LoggedEvent (or, for the timeline, a TimelineEvent):
the generated RecordedEvent stops at this edge. A failed call is our dependency failing, not
the caller's mistake: UNAVAILABLE via the platform's one mapping (eventstore_unavailable).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import grpc
from fundledger.eventstore.v1.events_pb2 import RecordedEvent
from fundledger_kernel.fund.fold_input import LoggedEvent
from fundledger_platform.chain_check import chained_event
from fundledger_platform.eventstore_client import EventStoreClient
from fundledger_platform.eventstore_errors import eventstore_unavailable
from fundledger_platform.recorded import logged_event
from fundledger_platform.timestamps import from_timestamp

from snapshotter.domain.model import StreamInfo
from snapshotter.domain.timeline import TimelineEvent


class GrpcEventLog:
    def __init__(self, client: EventStoreClient) -> None:
        self._client = client

    async def stream_info(self, fund_id: str) -> StreamInfo | None:
        try:
            info = await self._client.stream_info(fund_id)
        except grpc.aio.AioRpcError as err:
            raise eventstore_unavailable(err) from None
        if info is None:
            return None
        return StreamInfo(
            version=info.version,
            first_recorded_at=(
                from_timestamp(info.first_recorded_at)
                if info.HasField("first_recorded_at")
                else None
            ),
            last_recorded_at=(
                from_timestamp(info.last_recorded_at) if info.HasField("last_recorded_at") else None
            ),
        )

    async def read_stream(
        self,
        fund_id: str,
        *,
        from_version: int | None = None,
        max_count: int = 0,
        max_recorded_at: datetime | None = None,
        backwards: bool = False,
    ) -> list[LoggedEvent]:
        events = await self._read(fund_id, from_version, max_count, max_recorded_at, backwards)
        # With their chain fields and stored hashes: every fold of a fund's stream checks them
        # (service_layer/history.py).
        return [chained_event(event) for event in events]

    async def read_timeline(
        self,
        fund_id: str,
        *,
        from_version: int | None,
        max_count: int,
        max_recorded_at: datetime | None,
    ) -> list[TimelineEvent]:
        events = await self._read(fund_id, from_version, max_count, max_recorded_at, True)
        return [timeline_event(event) for event in events]

    async def read_all(
        self, *, from_position: int, categories: Sequence[str], max_count: int
    ) -> list[LoggedEvent]:
        try:
            return [
                logged_event(event)
                async for event in self._client.read_all(
                    from_position=from_position, categories=categories, max_count=max_count
                )
            ]
        except grpc.aio.AioRpcError as err:
            raise eventstore_unavailable(err) from None

    async def _read(
        self,
        fund_id: str,
        from_version: int | None,
        max_count: int,
        max_recorded_at: datetime | None,
        backwards: bool,
    ) -> list[RecordedEvent]:
        try:
            return await self._client.read_stream(
                fund_id,
                from_version=from_version,
                max_count=max_count,
                max_recorded_at=max_recorded_at,
                backwards=backwards,
            )
        except grpc.aio.AioRpcError as err:
            raise eventstore_unavailable(err) from None


def timeline_event(event: RecordedEvent) -> TimelineEvent:
    return TimelineEvent(
        event=logged_event(event),
        category=event.category,
        schema_version=event.schema_version,
        metadata=dict(event.metadata),
        causation_id=event.causation_id,
        correlation_id=event.correlation_id,
        user_id=event.user_id,
        source=event.source,
    )
