"""The event store's log over its gRPC API, as the use cases' EventLog port.

The projector never reads the event store's tables. A failed call is our
dependency failing, not a caller's mistake: UNAVAILABLE with
EVENT_STORE_UNAVAILABLE (retryable), never the INTERNAL an escaping RpcError
would become.
"""

from __future__ import annotations

import grpc
from fundledger_kernel.fund.fold_input import LoggedEvent
from fundledger_kernel.streams import FUND_CATEGORY
from fundledger_platform.chain_check import chained_event
from fundledger_platform.eventstore_client import EventStoreClient
from fundledger_platform.eventstore_errors import eventstore_unavailable


class GrpcEventLog:
    def __init__(self, client: EventStoreClient) -> None:
        self._client = client

    async def read_stream(
        self, fund_id: str, *, from_version: int, max_count: int
    ) -> list[LoggedEvent]:
        try:
            events = await self._client.read_stream(
                fund_id, from_version=from_version, max_count=max_count
            )
        except grpc.aio.AioRpcError as err:
            raise eventstore_unavailable(err) from None
        return [chained_event(e) for e in events]

    async def read_funds(self, *, from_position: int, max_count: int) -> list[LoggedEvent]:
        try:
            return [
                chained_event(e)
                async for e in self._client.read_all(
                    from_position=from_position, categories=[FUND_CATEGORY], max_count=max_count
                )
            ]
        except grpc.aio.AioRpcError as err:
            raise eventstore_unavailable(err) from None

    async def head_position(self) -> int:
        try:
            return await self._client.head_position()
        except grpc.aio.AioRpcError as err:
            raise eventstore_unavailable(err) from None
