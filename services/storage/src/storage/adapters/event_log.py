"""The event store over gRPC, as the use cases' EventLog port.

Appends are idempotent (stable idempotency key, event id and payload per file), so the
event-store client re-sends one whose outcome is unknown (UNAVAILABLE, a deadline, a broken
connection) and the store answers a landed one as a replay. Failures are translated with the
platform's one mapping (fundledger_platform.eventstore_errors):
- a definite refusal (invalid argument, key reused, …) -> AppendRejected with the store's code
  and reason: nothing was written;
- anything else, also after the client's last attempt -> UNAVAILABLE (EVENT_STORE_UNAVAILABLE):
  the outcome is unknown, retryable for the caller.

The append runs as the calling person (the platform's client forwards their token), so the
store's NOT_FOUND (the entity's stream belongs to another tenant) and PERMISSION_DENIED (the
person may not append to that category) are refusals too: nothing was written, nothing is
compensated.
"""

from __future__ import annotations

import grpc
from fundledger.eventstore.v1 import eventstore_pb2 as es
from fundledger.eventstore.v1.events_pb2 import EventData
from fundledger_kernel import canonical_json
from fundledger_platform.errors import Unavailable
from fundledger_platform.eventstore_client import EventStoreClient
from fundledger_platform.eventstore_errors import eventstore_error

from storage.domain.events import SOURCE, EntityEvent
from storage.service_layer.errors import AppendRejected


def append_request(event: EntityEvent) -> es.AppendToStreamRequest:
    return es.AppendToStreamRequest(
        stream_id=event.stream_id,
        events=[
            EventData(
                event_id=str(event.event_id),
                event_type=event.event_type,
                data=canonical_json(event.data),
                user_id=event.user_id,
                source=SOURCE,
            )
        ],
        idempotency_key=event.idempotency_key,
    )


class GrpcEventLog:
    def __init__(self, client: EventStoreClient) -> None:
        self._client = client

    async def append(self, event: EntityEvent) -> bool:
        try:
            response = await self._client.append(append_request(event))
        except grpc.aio.AioRpcError as err:
            error = eventstore_error(err)
            if isinstance(error, Unavailable):
                raise error from None
            raise AppendRejected(error, f"{event.event_type} on {event.stream_id}") from None
        return bool(response.replayed)
