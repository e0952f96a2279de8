"""The event store over gRPC, as the use cases' EventLog port.

Errors of the event store are translated here, so the use cases see either their own outcome
(StreamVersionConflict) or a caller-visible DomainError:
- ABORTED (wrong expected version) -> StreamVersionConflict with the store's actual version;
- FAILED_PRECONDITION / INVALID_ARGUMENT (a reused idempotency key, a batch over the store's
  limits) -> the same code and the store's reason: these are about the caller's request;
- anything else is our dependency failing -> UNAVAILABLE (retryable), never a bare INTERNAL.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC

import grpc
from fundledger.eventstore.v1 import events_pb2
from fundledger.eventstore.v1 import eventstore_pb2 as es
from fundledger.eventstore.v1.events_pb2 import RecordedEvent
from fundledger_kernel import PayloadError, canonical_json
from fundledger_kernel.fund import decode_event
from fundledger_platform.errors import (
    DataLoss,
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    Unavailable,
    error_info,
)
from fundledger_platform.eventstore_client import EventStoreClient

from allocation.domain.commit_events import OutgoingEvent
from allocation.domain.fund_view import LoggedEvent
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
            raise _unavailable(err) from None
        return [_logged(event) for event in events]

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
                    data=canonical_json(dict(event.data)),
                    user_id=user_id,
                    correlation_id=correlation_id,
                    source=SOURCE,
                )
                for event in events
            ],
        )
        try:
            response = await self._client.append(request)
        except grpc.aio.AioRpcError as err:
            raise _append_error(err) from None
        return Appended(
            first_version=response.first_version,
            last_version=response.last_version,
            replayed=response.replayed,
            recorded_at=response.recorded_at.ToDatetime(tzinfo=UTC),
            event_ids=tuple(response.event_ids),
        )


def _logged(event: RecordedEvent) -> LoggedEvent:
    recorded_at = event.recorded_at.ToDatetime(tzinfo=UTC)
    try:
        fund_event = decode_event(event.event_type, event.data, event.version, recorded_at)
    except PayloadError as err:
        # The store validated it on append; one that still does not parse cannot be folded,
        # and skipping it would give a wrong state. Loudly refuse instead.
        raise DataLoss(
            f"{event.stream_id} v{event.version}: payload does not match its schema: {err}",
            reason="FUND_EVENT_UNREADABLE",
            metadata={"fund_id": event.stream_id, "version": str(event.version)},
        ) from None
    return LoggedEvent(fund_event, event.event_id)


def _append_error(err: grpc.aio.AioRpcError) -> Exception:
    info = error_info(err)
    reason = info.reason if info is not None else ""
    code = err.code()
    if code == grpc.StatusCode.ABORTED:
        actual = info.metadata.get("actual_version") if info is not None else None
        return StreamVersionConflict(int(actual) if actual and actual.isdigit() else None)
    caller_errors: dict[grpc.StatusCode, type[DomainError]] = {
        grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
        grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    }
    error_class = caller_errors.get(code)
    if error_class is not None:
        return error_class(
            f"the event store refused the append: {err.details()}",
            reason=reason or code.name,
            metadata=dict(info.metadata) if info is not None else None,
        )
    return _unavailable(err)


def _unavailable(err: grpc.aio.AioRpcError) -> Unavailable:
    return Unavailable(
        f"event store call failed: {err.code().name} {err.details()}",
        reason="EVENTSTORE_UNAVAILABLE",
        metadata={"eventstore_code": err.code().name},
    )
