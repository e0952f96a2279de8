"""Event store calls the commands share: append, read a stream, stream info."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

import grpc
from fundledger.eventstore.v1 import events_pb2, eventstore_pb2, eventstore_pb2_grpc
from fundledger_platform.errors import error_info

from fundledger_cli.bulk_import import IMPORT_SOURCE, ImportEvent
from fundledger_cli.event_input import ProposedEvent
from fundledger_cli.import_runner import VersionConflict

CLI_SOURCE = "fundledger-cli"

_STATES = {
    "any": eventstore_pb2.STREAM_STATE_ANY,
    "no-stream": eventstore_pb2.STREAM_STATE_NO_STREAM,
    "exists": eventstore_pb2.STREAM_STATE_STREAM_EXISTS,
}
EXPECTED_CHOICES = "an exact version, 'any', 'no-stream' or 'exists'"


def parse_expected(text: str) -> int | str:
    """'3' -> 3; 'any' / 'no-stream' / 'exists' as is; ValueError otherwise."""
    if text in _STATES:
        return text
    version = int(text)
    if version < 0:
        raise ValueError(text)
    return version


def event_data(event: ProposedEvent, source: str = CLI_SOURCE) -> events_pb2.EventData:
    message = events_pb2.EventData(
        event_id=event.event_id,
        event_type=event.event_type,
        schema_version=event.schema_version,
        data=event.payload(),
        metadata=dict(event.metadata),
        causation_id=event.causation_id,
        correlation_id=event.correlation_id,
        user_id=event.user_id,
        source=source,
    )
    if event.effective_at is not None:
        message.effective_at.FromDatetime(event.effective_at)
    return message


def append_request(
    stream_id: str,
    expected: int | str,
    events: Sequence[events_pb2.EventData],
    idempotency_key: str = "",
) -> eventstore_pb2.AppendToStreamRequest:
    request = eventstore_pb2.AppendToStreamRequest(
        stream_id=stream_id, events=list(events), idempotency_key=idempotency_key
    )
    if isinstance(expected, int):
        request.expected_version = expected
    else:
        request.expected_state = _STATES[expected]
    return request


def read_stream(
    channel: grpc.Channel,
    stream_id: str,
    timeout: float,
    *,
    from_version: int | None = None,
    backwards: bool = False,
    max_count: int = 0,
    as_of: datetime | None = None,
) -> Iterator[events_pb2.RecordedEvent]:
    stub = eventstore_pb2_grpc.EventStoreServiceStub(channel)
    request = eventstore_pb2.ReadStreamRequest(
        stream_id=stream_id,
        direction=(
            eventstore_pb2.READ_DIRECTION_BACKWARDS
            if backwards
            else eventstore_pb2.READ_DIRECTION_FORWARDS
        ),
        max_count=max_count,
    )
    if from_version is not None:
        request.from_version = from_version
    if as_of is not None:
        request.max_recorded_at.FromDatetime(as_of)
    # Pages, the store's default: up to 1000 events (about 1 MiB at most) per message.
    for page in stub.ReadStream(request, timeout=timeout):
        yield from page.events


def stream_version(channel: grpc.Channel, stream_id: str, timeout: float) -> int:
    """The stream's version; 0 when it does not exist."""
    stub = eventstore_pb2_grpc.EventStoreServiceStub(channel)
    try:
        info = stub.GetStreamInfo(
            eventstore_pb2.GetStreamInfoRequest(stream_id=stream_id), timeout=timeout
        )
    except grpc.RpcError as err:
        if err.code() is grpc.StatusCode.NOT_FOUND:
            return 0
        raise
    return int(info.version)


class GrpcImportTarget:
    """The bulk import's port onto a real event store."""

    def __init__(self, channel: grpc.Channel, timeout: float) -> None:
        self._channel = channel
        self._stub = eventstore_pb2_grpc.EventStoreServiceStub(channel)
        self._timeout = timeout

    def append(
        self,
        stream_id: str,
        expected_version: int,
        events: list[ImportEvent],
        idempotency_key: str,
    ) -> bool:
        request = append_request(
            stream_id,
            expected_version,
            [event_data(e.event, IMPORT_SOURCE) for e in events],
            idempotency_key,
        )
        try:
            response = self._stub.AppendToStream(request, timeout=self._timeout)
        except grpc.RpcError as err:
            actual = _actual_version(err)
            if actual is not None:
                raise VersionConflict(stream_id, actual) from None
            raise
        return bool(response.replayed)

    def stored_event_ids(self, stream_id: str, last_version: int) -> list[str]:
        events = read_stream(
            self._channel, stream_id, self._timeout, from_version=1, max_count=last_version
        )
        return [e.event_id for e in events]


def _actual_version(err: grpc.RpcError) -> int | None:
    """The stream's actual version from a WRONG_EXPECTED_VERSION refusal, else None."""
    if err.code() is not grpc.StatusCode.ABORTED:
        return None
    info = error_info(err)
    if info is None or info.reason != "WRONG_EXPECTED_VERSION":
        return None
    try:
        return int(info.metadata["actual_version"])
    except (KeyError, ValueError):
        return None
