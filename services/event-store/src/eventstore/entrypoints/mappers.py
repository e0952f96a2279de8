"""Proto <-> domain conversions and request-field checks for the servicer."""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
from fundledger.eventstore.v1 import eventstore_pb2 as pb
from fundledger.eventstore.v1.events_pb2 import RecordedEvent
from fundledger_platform.errors import InvalidArgument
from google.protobuf.timestamp_pb2 import Timestamp

from eventstore.adapters.records import to_recorded_event
from eventstore.domain.commands import RawEvent
from eventstore.domain.model import AppendResult, Expected, ExpectedKind

MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100

_STATES = {
    pb.STREAM_STATE_UNSPECIFIED: ExpectedKind.ANY,
    pb.STREAM_STATE_ANY: ExpectedKind.ANY,
    pb.STREAM_STATE_NO_STREAM: ExpectedKind.NO_STREAM,
    pb.STREAM_STATE_STREAM_EXISTS: ExpectedKind.STREAM_EXISTS,
}


def expected_of(request: pb.AppendToStreamRequest) -> Expected:
    which = request.WhichOneof("expected")
    if which == "expected_version":
        return Expected(ExpectedKind.EXACT, request.expected_version)
    if which == "expected_state":
        kind = _STATES.get(request.expected_state)
        if kind is None:
            raise InvalidArgument(
                "expected_state: unknown value", reason="INVALID_ARGUMENT", field="expected_state"
            )
        return Expected(kind)
    return Expected(ExpectedKind.ANY)


def raw_events(request: pb.AppendToStreamRequest) -> list[RawEvent]:
    return [
        RawEvent(
            event_id=e.event_id,
            event_type=e.event_type,
            schema_version=e.schema_version,
            data=e.data,
            metadata=dict(e.metadata),
            causation_id=e.causation_id,
            correlation_id=e.correlation_id,
            user_id=e.user_id,
            source=e.source,
        )
        for e in request.events
    ]


def append_response(result: AppendResult) -> pb.AppendToStreamResponse:
    response = pb.AppendToStreamResponse(
        first_version=result.first_version,
        last_version=result.last_version,
        first_position=result.first_position,
        last_position=result.last_position,
        replayed=result.replayed,
        event_ids=list(result.event_ids),
    )
    response.recorded_at.FromDatetime(result.recorded_at)
    return response


def time_of(ts: Timestamp, present: bool) -> datetime | None:
    if not present:
        return None
    return ts.ToDatetime(tzinfo=UTC)


def timestamp(value: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def page_size(value: int, field: str = "page_size") -> int:
    if value < 0:
        raise InvalidArgument(
            f"{field}: must not be negative", reason="INVALID_ARGUMENT", field=field
        )
    return min(value or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def non_negative(value: int, field: str) -> int:
    if value < 0:
        raise InvalidArgument(
            f"{field}: must not be negative", reason="INVALID_ARGUMENT", field=field
        )
    return value


def required(value: str, field: str) -> str:
    if not value:
        raise InvalidArgument(f"{field}: required", reason="INVALID_ARGUMENT", field=field)
    return value


MAX_BATCH_SIZE = 1000
# A page also stops growing past this many bytes, to stay far below gRPC limits.
MAX_BATCH_BYTES = 4 * 1024 * 1024


def batch_size(value: int) -> int:
    if value < 0:
        raise InvalidArgument(
            "batch_size: must not be negative", reason="INVALID_ARGUMENT", field="batch_size"
        )
    return min(value, MAX_BATCH_SIZE)


async def pages(
    rows: AsyncIterator[asyncpg.Record], size: int
) -> AsyncIterator[list[RecordedEvent]]:
    """Groups rows into pages of RecordedEvents: one gRPC message per page costs
    about what one event alone costs, so pages make reads many times cheaper."""
    page: list[RecordedEvent] = []
    page_bytes = 0
    async for row in rows:
        event = to_recorded_event(row)
        page.append(event)
        page_bytes += len(event.data)
        if len(page) >= size or page_bytes >= MAX_BATCH_BYTES:
            yield page
            page, page_bytes = [], 0
    if page:
        yield page


def encode_token(position: int) -> str:
    return base64.urlsafe_b64encode(f"p1:{position}".encode()).decode().rstrip("=")


def decode_token(token: str, field: str = "page_token") -> int | None:
    """The position a page token stands for; None for the first page."""
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        prefix, _, number = raw.partition(":")
        if prefix != "p1":
            raise ValueError(raw)
        return int(number)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidArgument(
            f"{field}: not a token this service issued", reason="INVALID_PAGE_TOKEN", field=field
        ) from None


def window(
    start: datetime | None, end: datetime | None, last_days: int, now: datetime
) -> tuple[datetime | None, datetime | None]:
    if last_days < 0:
        raise InvalidArgument(
            "last_days: must not be negative", reason="INVALID_ARGUMENT", field="last_days"
        )
    if last_days:
        return now - timedelta(days=last_days), None
    if start is not None and end is not None and end < start:
        raise InvalidArgument(
            "end_time: must not be before start_time", reason="INVALID_ARGUMENT", field="end_time"
        )
    return start, end
