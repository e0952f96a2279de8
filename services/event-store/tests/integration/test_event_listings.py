"""ListUserEvents and ListCorrelatedEvents: filters, time windows, pagination and errors."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
from eventstore.bootstrap import EventStore
from eventstore_analytics_support import error_of, new_user, ts, when
from eventstore_support import (
    append,
    event,
    insert_raw_event,
    metadata_of,
    new_stream,
    new_type,
    open_channel,
    reason_of,
)
from fundledger.eventstore.v1 import eventstore_pb2 as pb
from fundledger.eventstore.v1 import eventstore_pb2_grpc


def keys(events: Any) -> list[tuple[str, int]]:
    return [(e.stream_id, e.version) for e in events]


async def all_pages(call: Any, request: Any) -> list[list[Any]]:
    """Every page of a paginated listing, following next_page_token to the end."""
    pages: list[list[Any]] = []
    while True:
        response = await call(request)
        pages.append(list(response.events))
        if not response.next_page_token:
            return pages
        assert len(pages) < 100, "pagination does not end"
        request.page_token = response.next_page_token


# -- ListUserEvents ----------------------------------------------------------------------


async def test_list_user_events_newest_first(stub: Any, put: Any) -> None:
    user, other = new_user(), new_user()
    a, b = new_stream(), new_stream()
    await put(a, event(user_id=user), event(user_id=other))
    await put(b, event(user_id=user), event())
    await put(a, event(user_id=user))

    response = await stub.ListUserEvents(pb.ListUserEventsRequest(user_id=user))
    assert keys(response.events) == [(a, 3), (b, 1), (a, 1)]
    assert all(e.user_id == user for e in response.events)
    positions = [e.position for e in response.events]
    assert positions == sorted(positions, reverse=True)
    assert response.next_page_token == ""

    nobody = await stub.ListUserEvents(pb.ListUserEventsRequest(user_id=new_user()))
    assert list(nobody.events) == []
    assert nobody.next_page_token == ""


async def test_list_user_events_time_window(stub: Any, put: Any) -> None:
    user = new_user()
    s = new_stream()
    stamps = []
    for _ in range(4):
        response = await put(s, event(user_id=user))
        stamps.append(response.recorded_at)
    assert [when(t) for t in stamps] == sorted({when(t) for t in stamps})

    # start inclusive, end exclusive.
    window = await stub.ListUserEvents(
        pb.ListUserEventsRequest(user_id=user, start_time=stamps[1], end_time=stamps[3])
    )
    assert keys(window.events) == [(s, 3), (s, 2)]
    from_start = await stub.ListUserEvents(
        pb.ListUserEventsRequest(user_id=user, start_time=stamps[2])
    )
    assert keys(from_start.events) == [(s, 4), (s, 3)]
    until_end = await stub.ListUserEvents(
        pb.ListUserEventsRequest(user_id=user, end_time=stamps[1])
    )
    assert keys(until_end.events) == [(s, 1)]
    empty = await stub.ListUserEvents(
        pb.ListUserEventsRequest(user_id=user, start_time=stamps[2], end_time=stamps[2])
    )
    assert list(empty.events) == []

    err = await error_of(
        stub.ListUserEvents,
        pb.ListUserEventsRequest(user_id=user, start_time=stamps[3], end_time=stamps[0]),
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert metadata_of(err)["field"] == "end_time"
    assert reason_of(err) == "TIME_RANGE_INVALID"


async def test_list_user_events_last_days(stub: Any, store: EventStore, put: Any) -> None:
    user = new_user()
    s = new_stream()
    now = datetime.now(UTC)
    async with store.pool.acquire() as conn:
        await insert_raw_event(conn, s, 1, now - timedelta(days=10), user_id=user)
        await insert_raw_event(conn, s, 2, now - timedelta(days=3), user_id=user)
    await put(s, event(user_id=user), expected_version=2)

    assert keys((await stub.ListUserEvents(pb.ListUserEventsRequest(user_id=user))).events) == [
        (s, 3),
        (s, 2),
        (s, 1),
    ]
    for days, expected in ((1, [(s, 3)]), (5, [(s, 3), (s, 2)]), (30, [(s, 3), (s, 2), (s, 1)])):
        response = await stub.ListUserEvents(pb.ListUserEventsRequest(user_id=user, last_days=days))
        assert keys(response.events) == expected, days

    # last_days wins over an explicit window.
    ignored = await stub.ListUserEvents(
        pb.ListUserEventsRequest(
            user_id=user,
            last_days=5,
            start_time=ts(now - timedelta(days=20)),
            end_time=ts(now - timedelta(days=9)),
        )
    )
    assert keys(ignored.events) == [(s, 3), (s, 2)]

    err = await error_of(stub.ListUserEvents, pb.ListUserEventsRequest(user_id=user, last_days=-1))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (reason_of(err), metadata_of(err)["field"]) == ("FIELD_NEGATIVE", "last_days")


async def test_list_user_events_event_types(stub: Any, put: Any) -> None:
    user = new_user()
    x, y, z = new_type(), new_type(), new_type()
    s = new_stream()
    await put(s, event(x, user_id=user), event(y, user_id=user), event(z, user_id=user))
    await put(s, event(x, user_id=user))
    only_x = await stub.ListUserEvents(pb.ListUserEventsRequest(user_id=user, event_types=[x]))
    assert keys(only_x.events) == [(s, 4), (s, 1)]
    x_or_z = await stub.ListUserEvents(pb.ListUserEventsRequest(user_id=user, event_types=[x, z]))
    assert keys(x_or_z.events) == [(s, 4), (s, 3), (s, 1)]
    none = await stub.ListUserEvents(
        pb.ListUserEventsRequest(user_id=user, event_types=[new_type()])
    )
    assert list(none.events) == []


async def test_list_user_events_pages(stub: Any, put: Any) -> None:
    # (events, page size): pages that do not divide evenly, that do, of one, and one page.
    for total, size in [(25, 7), (21, 7), (5, 1), (3, 100)]:
        user = new_user()
        streams = [new_stream() for _ in range(3)]
        for i in range(total):
            # Some events of other users in between, which must not show up.
            await put(streams[i % 3], event(user_id=user, data={"i": i}), event(user_id=new_user()))
        full = await stub.ListUserEvents(pb.ListUserEventsRequest(user_id=user, page_size=1000))
        assert len(full.events) == total

        pages = await all_pages(
            stub.ListUserEvents, pb.ListUserEventsRequest(user_id=user, page_size=size)
        )
        sizes = [len(p) for p in pages]
        assert sizes == [min(size, total - k) for k in range(0, total, size)], (total, size)
        walked = [e for page in pages for e in page]
        assert [e.position for e in walked] == [e.position for e in full.events]
        assert len({e.event_id for e in walked}) == total


async def test_list_user_events_pages_with_filters(stub: Any, put: Any) -> None:
    user = new_user()
    x, y = new_type(), new_type()
    s = new_stream()
    for i in range(12):
        await put(s, event(x if i % 3 else y, user_id=user))
    request = pb.ListUserEventsRequest(user_id=user, event_types=[x], page_size=3, last_days=1)
    pages = await all_pages(stub.ListUserEvents, request)
    assert [len(p) for p in pages] == [3, 3, 2]
    walked = [e.version for page in pages for e in page]
    assert walked == [v for v in range(12, 0, -1) if (v - 1) % 3]


async def test_list_user_events_default_and_maximum_page_size(
    store_factory: Callable[..., Any], secure_env: Any
) -> None:
    # 1100 events: a store without the relay, which would only slow this down.
    quiet: EventStore = await store_factory(relay_enabled=False)
    user = new_user()
    async with open_channel(quiet, secure_env.token(user)) as channel:
        stub = eventstore_pb2_grpc.EventStoreServiceStub(channel)
        await check_default_and_maximum_page_size(stub, user)


async def check_default_and_maximum_page_size(stub: Any, user: str) -> None:
    """``stub`` calls as ``user``: their own events, listed by themselves."""
    s = new_stream()
    for _ in range(11):
        await stub.AppendToStream(append(s, *[event() for _ in range(100)]))  # 1100 events
    default = await stub.ListUserEvents(pb.ListUserEventsRequest(user_id=user))
    assert len(default.events) == 100
    assert default.next_page_token
    biggest = await stub.ListUserEvents(pb.ListUserEventsRequest(user_id=user, page_size=5000))
    assert len(biggest.events) == 1000
    rest = await stub.ListUserEvents(
        pb.ListUserEventsRequest(user_id=user, page_size=5000, page_token=biggest.next_page_token)
    )
    assert [e.version for e in rest.events] == list(range(100, 0, -1))
    assert rest.next_page_token == ""


INVALID_TOKENS = [
    "garbage",
    "!!!",
    base64.urlsafe_b64encode(b"p2:10").decode(),
    base64.urlsafe_b64encode(b"p1:ten").decode(),
    base64.urlsafe_b64encode(b"\xff\xfe").decode(),
]


async def test_list_user_events_invalid_page_token(stub: Any) -> None:
    for token in INVALID_TOKENS:
        err = await error_of(
            stub.ListUserEvents, pb.ListUserEventsRequest(user_id=new_user(), page_token=token)
        )
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, token
        assert reason_of(err) == "INVALID_PAGE_TOKEN", token
        assert metadata_of(err)["field"] == "page_token", token


async def test_list_user_events_requires_user_and_valid_page_size(stub: Any) -> None:
    err = await error_of(stub.ListUserEvents, pb.ListUserEventsRequest())
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert metadata_of(err)["field"] == "user_id"
    assert reason_of(err) == "FIELD_REQUIRED"
    err = await error_of(
        stub.ListUserEvents, pb.ListUserEventsRequest(user_id=new_user(), page_size=-1)
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert metadata_of(err)["field"] == "page_size"
    assert reason_of(err) == "PAGE_SIZE_INVALID"


async def test_a_page_token_pages_only_the_query_that_issued_it(stub: Any, put: Any) -> None:
    user = new_user()
    correlation = f"corr-{uuid.uuid4()}"
    s = new_stream()
    for _ in range(3):
        await put(s, event(user_id=user, correlation_id=correlation))
    mine = pb.ListUserEventsRequest(user_id=user, page_size=1)
    token = (await stub.ListUserEvents(mine)).next_page_token
    # The same query with another page size continues where the token points.
    more = await stub.ListUserEvents(
        pb.ListUserEventsRequest(user_id=user, page_size=5, page_token=token)
    )
    assert keys(more.events) == [(s, 2), (s, 1)]
    others = [
        (stub.ListUserEvents, pb.ListUserEventsRequest(user_id=new_user(), page_token=token)),
        (
            stub.ListUserEvents,
            pb.ListUserEventsRequest(user_id=user, event_types=["X"], page_token=token),
        ),
        (
            stub.ListCorrelatedEvents,
            pb.ListCorrelatedEventsRequest(correlation_id=correlation, page_token=token),
        ),
    ]
    for call, request in others:
        err = await error_of(call, request)
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert reason_of(err) == "INVALID_PAGE_TOKEN"


# -- ListCorrelatedEvents ----------------------------------------------------------------


async def test_list_correlated_events_across_streams(stub: Any) -> None:
    correlation = f"corr-{uuid.uuid4()}"
    a, b, c = new_stream(), new_stream(), new_stream("company")
    await stub.AppendToStream(append(a, event(correlation_id=correlation), event()))
    await stub.AppendToStream(
        append(b, event(correlation_id="other"), event(correlation_id=correlation))
    )
    await stub.AppendToStream(append(c, event(correlation_id=correlation)))
    await stub.AppendToStream(
        append(a, event(correlation_id=correlation), event(correlation_id=correlation))
    )
    expected = [(a, 1), (b, 2), (c, 1), (a, 3), (a, 4)]

    response = await stub.ListCorrelatedEvents(
        pb.ListCorrelatedEventsRequest(correlation_id=correlation)
    )
    assert keys(response.events) == expected
    assert all(e.correlation_id == correlation for e in response.events)
    assert response.next_page_token == ""

    pages = await all_pages(
        stub.ListCorrelatedEvents,
        pb.ListCorrelatedEventsRequest(correlation_id=correlation, page_size=2),
    )
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [k for page in pages for k in keys(page)] == expected

    exact = await all_pages(
        stub.ListCorrelatedEvents,
        pb.ListCorrelatedEventsRequest(correlation_id=correlation, page_size=5),
    )
    assert [len(p) for p in exact] == [5]

    unknown = await stub.ListCorrelatedEvents(
        pb.ListCorrelatedEventsRequest(correlation_id=f"corr-{uuid.uuid4()}")
    )
    assert list(unknown.events) == []


async def test_list_correlated_events_errors(stub: Any) -> None:
    err = await error_of(stub.ListCorrelatedEvents, pb.ListCorrelatedEventsRequest())
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert metadata_of(err)["field"] == "correlation_id"
    assert reason_of(err) == "FIELD_REQUIRED"
    err = await error_of(
        stub.ListCorrelatedEvents, pb.ListCorrelatedEventsRequest(correlation_id="x", page_size=-1)
    )
    assert (reason_of(err), metadata_of(err)["field"]) == ("PAGE_SIZE_INVALID", "page_size")
    err = await error_of(
        stub.ListCorrelatedEvents,
        pb.ListCorrelatedEventsRequest(correlation_id="x", page_token="nonsense"),
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert reason_of(err) == "INVALID_PAGE_TOKEN"
