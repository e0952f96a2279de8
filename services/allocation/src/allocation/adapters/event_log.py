"""The event store over gRPC, as the use cases' EventLog port.

Reads return the kernel's LoggedEvent, undecoded: what a gap or an unreadable payload means is
decided where the events are folded (fundledger_kernel.fund.fold_input), once for every service.

Errors of the event store are translated here with the platform's one mapping
(fundledger_platform.eventstore_errors), so the use cases see either their own outcome or a
caller-visible DomainError:
- ABORTED on an append (wrong expected version) -> StreamVersionConflict with the store's
  actual version, which the commit use case reports in its own terms;
- any other definite refusal -> forwarded with the store's code and registered reason;
- anything else is our dependency failing -> UNAVAILABLE (retryable), never a bare INTERNAL.
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from fundledger.eventstore.v1 import events_pb2
from fundledger.eventstore.v1 import eventstore_pb2 as es
from fundledger_kernel.fund.fold_input import LoggedEvent
from fundledger_platform.eventstore_client import EventStoreClient
from fundledger_platform.eventstore_errors import (
    actual_version,
    eventstore_error,
)
from fundledger_platform.recorded import logged_event
from fundledger_platform.timestamps import from_timestamp

from allocation.domain.commit_events import OutgoingEvent
from allocation.service_layer.ports import Appended, StreamVersionConflict

SOURCE = "allocation"


class GrpcEventLog:
    def __init__(self, client: EventStoreClient) -> None:
        self._client = client

    async def read(self, fund_id: str, from_version: int, max_count: int = 0) -> list[LoggedEvent]:
        try:
            events = await self._client.read_stream(
                fund_id, from_version=from_version, max_count=max_count
            )
        except grpc.aio.AioRpcError as err:
            # The fund id was checked before the read, so a failure is the store's — or a
            # definite refusal of the person this call acts for, forwarded as such.
            raise eventstore_error(err) from None
        return [logged_event(event) for event in events]

    async def append(
        self,
        fund_id: str,
        expected_version: int,
        events: Sequence[OutgoingEvent],
        *,
        idempotency_key: str,
        user_id: str,
        correlation_id: str,
    ) -> Appended:
        request = es.AppendToStreamRequest(
            stream_id=fund_id,
            expected_version=expected_version,
            idempotency_key=idempotency_key,
            events=[
                events_pb2.EventData(
                    event_type=event.event_type,
                    data=event.payload(),
                    user_id=user_id,
                    correlation_id=correlation_id,
                    source=SOURCE,
                )
                for event in events
            ],
        )
        try:
            # The client re-sends a keyed append whose outcome is unknown; the store replays it.
            response = await self._client.append(request)
        except grpc.aio.AioRpcError as err:
            if err.code() == grpc.StatusCode.ABORTED:
                raise StreamVersionConflict(actual_version(err)) from None
            raise eventstore_error(err) from None
        return Appended(
            first_version=response.first_version,
            last_version=response.last_version,
            first_position=response.first_position,
            replayed=response.replayed,
            recorded_at=from_timestamp(response.recorded_at),
            event_ids=tuple(response.event_ids),
        )
