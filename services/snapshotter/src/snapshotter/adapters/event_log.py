"""The event store over gRPC, as the use cases' EventLog port.

A failed call to the event store is our dependency failing, not the caller's
mistake: it becomes UNAVAILABLE (retryable) with the store's code in the
details, instead of the INTERNAL an escaping RpcError would turn into.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import grpc
from fundledger.eventstore.v1.events_pb2 import RecordedEvent
from fundledger_platform.errors import Unavailable
from fundledger_platform.eventstore_client import EventStoreClient

from snapshotter.domain.model import StreamInfo


def _unavailable(err: grpc.aio.AioRpcError) -> Unavailable:
    return Unavailable(
        f"event store call failed: {err.code().name} {err.details()}",
        reason="EVENTSTORE_UNAVAILABLE",
        metadata={"eventstore_code": err.code().name},
    )


class GrpcEventLog:
    def __init__(self, client: EventStoreClient) -> None:
        self._client = client

    async def stream_info(self, fund_id: str) -> StreamInfo | None:
        try:
            info = await self._client.stream_info(fund_id)
        except grpc.aio.AioRpcError as err:
            raise _unavailable(err) from None
        if info is None:
            return None
        return StreamInfo(
            version=info.version,
            first_recorded_at=(
                info.first_recorded_at.ToDatetime(tzinfo=UTC)
                if info.HasField("first_recorded_at")
                else None
            ),
            last_recorded_at=(
                info.last_recorded_at.ToDatetime(tzinfo=UTC)
                if info.HasField("last_recorded_at")
                else None
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
            raise _unavailable(err) from None

    async def read_all(
        self, *, from_position: int, categories: Sequence[str], max_count: int
    ) -> list[RecordedEvent]:
        try:
            return [
                event
                async for event in self._client.read_all(
                    from_position=from_position, categories=categories, max_count=max_count
                )
            ]
        except grpc.aio.AioRpcError as err:
            raise _unavailable(err) from None
