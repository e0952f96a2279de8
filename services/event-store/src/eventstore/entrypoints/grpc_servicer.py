"""EventStoreService: thin — checks fields, calls the use case or the reader, maps the result.

Appends: validate_append (domain/append_request.py) → Appender.append
(service_layer/append.py, the group-commit queue) → its GroupWriter port, whose SQL is
adapters/group_write.py. Domain errors raised here become gRPC statuses in the
platform's interceptor.

Identity and access (docs/security.md): every RPC's own permission is enforced before it runs
(the contract's ``requires`` option); what depends on the request is checked here, before
anything is read or written — the stream category (``events.append:<category>``,
``events.read:<category>``, ``events.subscribe:<category>``; no category filter means every
category, ``:*``) and whose activity is asked for (another user's, or everyone's, needs
``analytics.read``). Appends are written with the caller's identity (entrypoints/identity.py);
every read is narrowed to the caller's tenant by the reader.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import grpc
from fundledger.eventstore.v1 import eventstore_pb2 as pb
from fundledger.eventstore.v1 import eventstore_pb2_grpc
from fundledger_kernel.streams import category_of
from fundledger_platform.auth.authorization import permitted, require
from fundledger_platform.auth.tenancy import calling_user
from fundledger_platform.errors import NotFound
from fundledger_platform.fields import non_negative, required
from fundledger_platform.pagination import page_size
from fundledger_platform.reasons import Reason
from fundledger_platform.stream_ids import check_stream_id
from fundledger_platform.telemetry import inject_headers

from eventstore.adapters.notifier import Notifier
from eventstore.adapters.query_rows import QueryRows
from eventstore.adapters.reader import PAGE, Reader, StreamHead
from eventstore.adapters.records import RowConverter
from eventstore.domain.append_request import Limits, validate_append
from eventstore.entrypoints import mappers as m
from eventstore.entrypoints.identity import caller_identity
from eventstore.service_layer.append import Appender
from eventstore.service_layer.verify import ChainSource, verify_log, verify_stream


class EventStoreServicer(eventstore_pb2_grpc.EventStoreServiceServicer):
    def __init__(
        self,
        appender: Appender,
        reader: Reader,
        notifier: Notifier,
        limits: Limits,
        subscribe_poll_seconds: float,
        chain: ChainSource,
    ) -> None:
        self._chain = chain
        self._appender = appender
        self._reader = reader
        self._notifier = notifier
        self._limits = limits
        self._poll = subscribe_poll_seconds

    async def AppendToStream(
        self, request: pb.AppendToStreamRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.AppendToStreamResponse:
        command = validate_append(
            request.stream_id,
            m.expected_of(request),
            m.raw_events(request),
            request.idempotency_key,
            self._limits,
            caller_identity(),
        )
        require(f"events.append:{command.category}")
        trace = inject_headers().get("traceparent")
        if trace:
            # Stored with the events (after hashing, so retries still match) and
            # carried to the bus by the relay, so consumers join this trace.
            command = command.with_traceparent(trace)
        return m.append_response(await self._appender.append(command))

    async def ReadStream(
        self, request: pb.ReadStreamRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.ReadStreamResponse]:
        require(f"events.read:{check_stream_id(request.stream_id)}")
        from_version = request.from_version if request.HasField("from_version") else None
        if from_version is not None:
            non_negative(from_version, "from_version")
        max_count = non_negative(request.max_count, "max_count")
        backwards = m.backwards(request.direction)
        max_recorded_at = m.time_of(request, "max_recorded_at")
        size = m.batch_size(request.batch_size, request.one_per_message)
        rows = await self._reader.read_stream(
            request.stream_id,
            from_version=from_version,
            backwards=backwards,
            max_count=max_count,
            max_recorded_at=max_recorded_at,
            chunk=size or PAGE,
        )
        if rows is None:
            raise _stream_not_found(request.stream_id)
        if size == 0:
            converter = RowConverter()
            async for chunk in rows:
                for event in m.one_by_one(chunk, converter):
                    yield pb.ReadStreamResponse(event=event)
            return
        async for page in m.paged(rows, m.Pages(m.stream_page, size)):
            yield page

    async def ReadAll(
        self, request: pb.ReadAllRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.ReadAllResponse]:
        categories = m.categories(request.categories)
        _require_categories("events.read", categories)
        size = m.batch_size(request.batch_size, request.one_per_message)
        rows = self._reader.read_all(
            from_position=non_negative(request.from_position, "from_position"),
            max_count=non_negative(request.max_count, "max_count"),
            categories=categories,
            event_types=m.event_types(request.event_types),
            chunk=size or PAGE,
        )
        if size == 0:
            converter = RowConverter()
            async for chunk in rows:
                for event in m.one_by_one(chunk, converter):
                    yield pb.ReadAllResponse(event=event)
            return
        async for page in m.paged(rows, m.Pages(m.all_page, size)):
            yield page

    async def Subscribe(
        self, request: pb.SubscribeRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.SubscribeResponse]:
        categories = m.categories(request.categories)
        _require_categories("events.subscribe", categories)
        types = m.event_types(request.event_types)
        size = m.batch_size(request.batch_size, request.one_per_message)
        if request.HasField("from_position"):
            cursor = max(non_negative(request.from_position, "from_position"), 1)
        else:
            cursor = await self._reader.head_position() + 1
        query_rows = QueryRows(size or PAGE)
        # Pages (the default): catch-up sends full ones; each pass below ends by sending what
        # it found, so a live event never waits for a page to fill.
        pages = m.Pages(m.subscribe_page, size) if size else None
        converter = RowConverter()
        caught_up = False
        since = None  # unknown for a catch-up from an arbitrary position
        while True:
            wake = self._notifier.current()
            head, head_at = await self._reader.log_head()
            # Everything up to `head` is committed (the log commits in position
            # order), so after reading it the cursor may jump past events the
            # filters skipped.
            while cursor <= head:
                limit = query_rows.rows
                rows = await self._reader.read_page(cursor, limit, categories, types, head, since)
                query_rows.saw(rows)
                if pages is None:
                    for event in m.one_by_one(rows, converter):
                        yield pb.SubscribeResponse(event=event)
                else:
                    for page in pages.fill(rows):
                        yield page
                cursor = rows[-1]["position"] + 1 if len(rows) == limit else head + 1
            if pages is not None:
                last = pages.flush()
                if last is not None:
                    yield last
            # Events after `head` are recorded no earlier than it: later polls
            # only touch recent partitions.
            since = head_at
            if not caught_up:
                caught_up = True
                yield pb.SubscribeResponse(caught_up=pb.CaughtUp(position=head))
            await _wait(wake, self._poll)

    async def GetStreamInfo(
        self, request: pb.GetStreamInfoRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.GetStreamInfoResponse:
        require(f"events.read:{check_stream_id(request.stream_id)}")
        head = await self._head(request.stream_id)
        response = pb.GetStreamInfoResponse(
            stream_id=head.stream_id,
            category=head.category,
            version=head.version,
            event_count=await self._reader.count_stream(head),
        )
        if head.first_recorded_at is not None:
            response.first_recorded_at.FromDatetime(head.first_recorded_at)
        if head.last_recorded_at is not None:
            response.last_recorded_at.FromDatetime(head.last_recorded_at)
        return response

    async def ListUserEvents(
        self, request: pb.ListUserEventsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ListUserEventsResponse:
        user_id = m.id_filter(required(request.user_id, "user_id"), "user_id")
        _require_activity_of(user_id)
        event_types = m.event_types(request.event_types)
        size = page_size(request.page_size)
        start, end = m.window(
            m.time_of(request, "start_time"),
            m.time_of(request, "end_time"),
            request.last_days,
            datetime.now(UTC),
        )
        scope = m.user_events_scope(request)
        rows = await self._reader.user_events(
            user_id,
            start,
            end,
            event_types,
            m.position_of(request.page_token, m.USER_EVENTS, scope),
            size + 1,
        )
        response = pb.ListUserEventsResponse()
        m.fill_events(response.events, rows[:size])
        if len(rows) > size:
            response.next_page_token = m.position_token(
                m.USER_EVENTS, rows[size - 1]["position"], scope
            )
        return response

    async def ListCorrelatedEvents(
        self, request: pb.ListCorrelatedEventsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ListCorrelatedEventsResponse:
        correlation_id = m.id_filter(
            required(request.correlation_id, "correlation_id"), "correlation_id"
        )
        size = page_size(request.page_size)
        after = m.position_of(request.page_token, m.CORRELATED_EVENTS, correlation_id) or 0
        rows = await self._reader.correlated(correlation_id, after, size + 1)
        # An operation's events span categories: the caller sees those it may read (a page
        # may hold fewer events than asked; its token still continues after the last one).
        response = pb.ListCorrelatedEventsResponse()
        m.fill_events(
            response.events,
            [r for r in rows[:size] if permitted(f"events.read:{r['category']}")],
        )
        if len(rows) > size:
            response.next_page_token = m.position_token(
                m.CORRELATED_EVENTS, rows[size - 1]["position"], correlation_id
            )
        return response

    async def CountEvents(
        self, request: pb.CountEventsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.CountEventsResponse:
        user_id = m.id_filter(request.user_id, "user_id")
        _require_activity_of(user_id)
        event_types = m.event_types(request.event_types)
        category = m.id_filter(request.category, "category")
        start, end = m.window(
            m.time_of(request, "start_time"), m.time_of(request, "end_time"), 0, datetime.now(UTC)
        )
        count = await self._reader.count(user_id or None, event_types, category or None, start, end)
        return pb.CountEventsResponse(count=count)

    async def GetDailyCounts(
        self, request: pb.GetDailyCountsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.GetDailyCountsResponse:
        user_id = m.id_filter(request.user_id, "user_id")
        _require_activity_of(user_id)
        event_types = m.event_types(request.event_types)
        start, end = m.window(
            m.time_of(request, "start_time"), m.time_of(request, "end_time"), 0, datetime.now(UTC)
        )
        rows = await self._reader.daily_counts(user_id or None, event_types, start, end)
        return pb.GetDailyCountsResponse(
            counts=[
                pb.DailyCount(
                    day=r["day"].isoformat(),
                    user_id=r["user_id"],
                    event_type=r["event_type"],
                    count=r["count"],
                )
                for r in rows
            ]
        )

    async def VerifyStream(
        self, request: pb.VerifyStreamRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.VerifyStreamResponse:
        require(f"events.read:{check_stream_id(request.stream_id)}")
        head = await self._chain.head(request.stream_id)
        if head is None:
            raise _stream_not_found(request.stream_id)
        return m.verify_stream_response(await verify_stream(self._chain, head))

    async def VerifyLog(
        self, request: pb.VerifyLogRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.VerifyLogResponse]:
        if request.from_stream_id:
            check_stream_id(request.from_stream_id, "from_stream_id")
        from_position = non_negative(request.from_position, "from_position")
        require("events.read:*")
        async for progress in verify_log(self._chain, request.from_stream_id, from_position):
            yield m.verify_log_response(progress)

    async def _head(self, stream_id: str) -> StreamHead:
        head = await self._reader.head(stream_id)
        if head is None:
            raise _stream_not_found(stream_id)
        return head


def _stream_not_found(stream_id: str) -> NotFound:
    return NotFound(
        f"stream {stream_id} does not exist",
        reason=Reason.STREAM_NOT_FOUND,
        metadata={"stream_id": stream_id},
    )


def _require_categories(permission: str, categories: list[str]) -> None:
    """``permission`` for each category asked for; for every category when none is. A filter
    value no stream category can be matches nothing, so it needs nothing (and is not refused
    as a malformed permission)."""
    if not categories:
        require(f"{permission}:*")
    for category in categories:
        if category_of(f"{category}-0") == category:
            require(f"{permission}:{category}")


def _require_activity_of(user_id: str) -> None:
    """One's own activity needs only the RPC's permission; another user's, or everyone's
    (``user_id`` empty), needs ``analytics.read``."""
    if not user_id or user_id != calling_user():
        require("analytics.read")


async def _wait(event: asyncio.Event, seconds: float) -> None:
    # asyncio.timeout rather than wait_for, which on 3.11 can swallow the
    # cancellation of a Subscribe call that lands together with a wake-up.
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
