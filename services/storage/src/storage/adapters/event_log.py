"""The event store over gRPC, as the use cases' EventLog port.

Appends are idempotent (stable idempotency key, event id and payload per
file), so a call whose outcome is unknown — UNAVAILABLE, DEADLINE_EXCEEDED —
is simply sent again: if the first one landed, the store answers with a
replay. After the last attempt the outcome stays unknown and the use case
gets UNAVAILABLE (retryable for its caller). A definite refusal (invalid
argument, key reused, …) is AppendRejected: nothing was written.
"""

from __future__ import annotations

import asyncio
import json

import grpc
from fundledger.eventstore.v1 import eventstore_pb2 as es
from fundledger.eventstore.v1.events_pb2 import EventData
from fundledger_platform.errors import error_info
from fundledger_platform.eventstore_client import EventStoreClient

from storage.domain.events import SOURCE, EntityEvent
from storage.service_layer.errors import AppendRejected, eventstore_unavailable

# Codes after which the append may or may not have been applied.
_UNKNOWN_OUTCOME = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.INTERNAL,
    }
)
_RETRY_DELAYS = (0.1, 0.4)


def append_request(event: EntityEvent) -> es.AppendToStreamRequest:
    return es.AppendToStreamRequest(
        stream_id=event.stream_id,
        events=[
            EventData(
                event_id=str(event.event_id),
                event_type=event.event_type,
                data=json.dumps(event.data, sort_keys=True, separators=(",", ":")).encode(),
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
        request = append_request(event)
        for attempt in range(len(_RETRY_DELAYS) + 1):
            try:
                response = await self._client.append(request)
            except grpc.aio.AioRpcError as err:
                code = err.code()
                if code not in _UNKNOWN_OUTCOME:
                    info = error_info(err)
                    raise AppendRejected(
                        code,
                        f"event store refused {event.event_type} on {event.stream_id}: "
                        f"{err.details()}",
                        reason=info.reason if info is not None else "EVENTSTORE_REJECTED",
                    ) from None
                if attempt == len(_RETRY_DELAYS):
                    raise eventstore_unavailable(f"{code.name} {err.details()}") from None
                await asyncio.sleep(_RETRY_DELAYS[attempt])
            else:
                return bool(response.replayed)
        raise AssertionError("unreachable")
