"""Proto <-> domain conversions and request-field checks for the servicer."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar

import asyncpg
from fundledger.eventstore.v1 import eventstore_pb2 as pb
from fundledger.eventstore.v1.events_pb2 import RecordedEvent
from fundledger_kernel.streams import MAX_STREAM_ID_LENGTH
from fundledger_platform.fields import (
    MAX_FILTER_VALUES,
    MAX_ID_LENGTH,
    malformed,
    non_negative,
    text,
    texts,
    time_window,
    timestamp,
)
from fundledger_platform.pagination import decode_page_token, encode_page_token, integers
from google.protobuf.internal.containers import RepeatedCompositeFieldContainer
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from eventstore.adapters.records import RowConverter
from eventstore.domain.append_request import MAX_EVENT_TYPE_LENGTH, RawEvent
from eventstore.domain.model import AppendResult, Expected, ExpectedKind
from eventstore.service_layer.verify import ChainBreak, LogProgress, StreamVerdict

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
            raise malformed("expected_state", "unknown value")
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
            effective_at=(
                timestamp(e.effective_at, f"events[{i}].effective_at")
                if e.HasField("effective_at")
                else None
            ),
        )
        for i, e in enumerate(request.events)
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


def time_of(request: Message, field: str) -> datetime | None:
    """The request's Timestamp field `field` as a datetime; None when it is not set."""
    if not request.HasField(field):
        return None
    value: Timestamp = getattr(request, field)
    return timestamp(value, field)


def backwards(direction: int) -> bool:
    """ReadStream's direction: UNSPECIFIED reads forwards; an unknown number is refused."""
    if direction not in pb.ReadDirection.values():
        raise malformed("direction", f"unknown value {direction}")
    return direction == pb.READ_DIRECTION_BACKWARDS


# Filters of the read RPCs. Each value reaches SQL (and PostgreSQL refuses NUL in text), so each
# is checked like the field it matches: a category within a stream id's length, an event type
# within the append's limit, a user or correlation id within the id limit.
def categories(values: Sequence[str]) -> list[str]:
    return texts(values, "categories", max_length=MAX_STREAM_ID_LENGTH, max_items=MAX_FILTER_VALUES)


def event_types(values: Sequence[str]) -> list[str]:
    return texts(
        values, "event_types", max_length=MAX_EVENT_TYPE_LENGTH, max_items=MAX_FILTER_VALUES
    )


def id_filter(value: str, field: str) -> str:
    """An optional user, correlation or category filter ("" when not given)."""
    return text(value, field, max_length=MAX_ID_LENGTH)


MAX_BATCH_SIZE = 1000
# A page stops growing once its events' encoded size reaches this (it always holds at least one
# event): far below the 4 MiB a gRPC client receives by default.
PAGE_BYTES = 1024 * 1024


def batch_size(value: int, one_per_message: bool) -> int:
    """Events per page of a read or subscription; 0 = one event per message. Pages are the
    default (``batch_size`` 0 = the most a page holds); one per message is asked for with
    ``one_per_message``, and then a page size makes no sense. Above the maximum is capped to it,
    like a list's page size (AIP-158). Not a page size to resume from: the stream has no
    tokens."""
    size = non_negative(value, "batch_size")
    if one_per_message:
        if size:
            raise malformed("batch_size", "must be 0 (unset) when one_per_message is true")
        return 0
    return min(size, MAX_BATCH_SIZE) or MAX_BATCH_SIZE


M = TypeVar("M", bound=Message)


class Pages(Generic[M]):
    """Fills response messages (pages) with the events of rows, in place: up to ``size``
    events, and no more once a page's encoded size reaches PAGE_BYTES.

    ``new_page`` makes an empty response and returns it with its repeated events field. One
    gRPC message costs about what one event alone costs, so pages make reads many times
    cheaper than one event per message.
    """

    def __init__(
        self,
        new_page: Callable[[], tuple[M, RepeatedCompositeFieldContainer[RecordedEvent]]],
        size: int,
    ) -> None:
        self._new_page = new_page
        self._size = size
        self._converter = RowConverter()
        self._page: M | None = None
        self._events: RepeatedCompositeFieldContainer[RecordedEvent] | None = None
        self._count = 0
        self._bytes = 0

    def fill(self, rows: Sequence[asyncpg.Record]) -> Iterator[M]:
        """Adds the rows' events; yields each page they fill. A page not yet full is kept for
        the next rows (``flush`` sends it)."""
        converter = self._converter
        for row in rows:
            if self._events is None:
                self._page, self._events = self._new_page()
                self._count = self._bytes = 0
            converter.convert(self._events.add, row)
            self._count += 1
            self._bytes += converter.size
            if self._count >= self._size or self._bytes >= PAGE_BYTES:
                assert self._page is not None
                yield self._page
                self._page = self._events = None

    def flush(self) -> M | None:
        """The page not yet full, if it holds any event; the next event starts a new one."""
        page = self._page
        self._page = self._events = None
        return page


async def paged(rows: AsyncIterator[Sequence[asyncpg.Record]], pages: Pages[M]) -> AsyncIterator[M]:
    """The pages of a whole read."""
    async for chunk in rows:
        for page in pages.fill(chunk):
            yield page
    last = pages.flush()
    if last is not None:
        yield last


def stream_page() -> tuple[pb.ReadStreamResponse, RepeatedCompositeFieldContainer[RecordedEvent]]:
    page = pb.ReadStreamResponse()
    return page, page.events


def all_page() -> tuple[pb.ReadAllResponse, RepeatedCompositeFieldContainer[RecordedEvent]]:
    page = pb.ReadAllResponse()
    return page, page.events


def subscribe_page() -> tuple[pb.SubscribeResponse, RepeatedCompositeFieldContainer[RecordedEvent]]:
    page = pb.SubscribeResponse()
    return page, page.page.events


def fill_events(
    events: RepeatedCompositeFieldContainer[RecordedEvent], rows: Sequence[asyncpg.Record]
) -> None:
    """A list response's events, filled in place."""
    converter = RowConverter()
    for row in rows:
        converter.convert(events.add, row)


def one_by_one(rows: Sequence[asyncpg.Record], converter: RowConverter) -> Iterator[RecordedEvent]:
    """The rows' events, each a message of its own (one_per_message)."""
    for row in rows:
        yield converter.convert(RecordedEvent, row)


# Page-token kinds: a token pages only the listing that issued it, and only for the
# query (scope) it was issued for.
USER_EVENTS = "user_events"
CORRELATED_EVENTS = "correlated_events"
_POSITION = integers(1)


def user_events_scope(request: pb.ListUserEventsRequest) -> str:
    """The query a ListUserEvents token belongs to: every field but the paging ones."""
    return json.dumps(
        [
            request.user_id,
            list(request.event_types),
            _stamp(request.start_time) if request.HasField("start_time") else None,
            _stamp(request.end_time) if request.HasField("end_time") else None,
            request.last_days,
        ]
    )


def _stamp(ts: Timestamp) -> list[int]:
    return [ts.seconds, ts.nanos]


def position_token(kind: str, position: int, scope: str) -> str:
    """The token of the page that continues from `position` (exclusive)."""
    return encode_page_token(kind, [position], scope)


def position_of(token: str, kind: str, scope: str) -> int | None:
    """The position a page token continues from; None for the first page."""
    cursor = decode_page_token(token, kind, _POSITION, scope)
    return None if cursor is None else cursor[0]


def window(
    start: datetime | None, end: datetime | None, last_days: int, now: datetime
) -> tuple[datetime | None, datetime | None]:
    """The time window to list: the last `last_days` days when set (it wins over an
    explicit window), else [start, end). More days than the calendar holds mean all of it."""
    if non_negative(last_days, "last_days"):
        earliest = datetime.min.replace(tzinfo=UTC)
        if last_days >= (now - earliest).days:
            return earliest, None
        return now - timedelta(days=last_days), None
    return time_window(start, end)


def chain_break(found: ChainBreak) -> pb.ChainBreak:
    return pb.ChainBreak(stream_id=found.stream_id, version=found.version, problem=found.problem)


def verify_stream_response(verdict: StreamVerdict) -> pb.VerifyStreamResponse:
    response = pb.VerifyStreamResponse(
        ok=verdict.ok,
        events_checked=verdict.events_checked,
        events_unverified=verdict.events_unverified,
        version=verdict.head.version,
        head_hash=verdict.head_hash.hex(),
    )
    if verdict.problem is not None:
        # `break` is a Python keyword: the field is reached by name.
        getattr(response, "break").CopyFrom(chain_break(verdict.problem))
    return response


def verify_log_response(progress: LogProgress) -> pb.VerifyLogResponse:
    return pb.VerifyLogResponse(
        streams_checked=progress.streams_checked,
        streams_total=progress.streams_total,
        events_checked=progress.events_checked,
        events_unverified=progress.events_unverified,
        breaks=[chain_break(b) for b in progress.breaks],
        last_stream_id=progress.last_stream_id,
        done=progress.done,
        through_position=progress.through_position,
    )
