"""ListUserEvents, ListCorrelatedEvents, CountEvents and GetDailyCounts."""

from __future__ import annotations

import base64
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import grpc
import pytest
from eventstore.bootstrap import EventStore
from fundledger.eventstore.v1 import eventstore_pb2 as pb
from fundledger.eventstore.v1 import eventstore_pb2_grpc
from google.protobuf.timestamp_pb2 import Timestamp
from helpers import (
    append,
    event,
    insert_raw_event,
    metadata_of,
    new_category,
    new_stream,
    new_type,
    reason_of,
)


def new_user() -> str:
    return f"user-{uuid.uuid4()}"


def ts(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def when(stamp: Timestamp) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC)


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


async def error_of(call: Any, request: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(request)
    return caught.value


# -- ListUserEvents ----------------------------------------------------------------------


async def test_list_user_events_newest_first(stub: Any) -> None:
    user, other = new_user(), new_user()
    a, b = new_stream(), new_stream()
    await stub.AppendToStream(append(a, event(user_id=user), event(user_id=other)))
    await stub.AppendToStream(append(b, event(user_id=user), event()))
    await stub.AppendToStream(append(a, event(user_id=user)))

    response = await stub.ListUserEvents(pb.ListUserEventsRequest(user_id=user))
    assert keys(response.events) == [(a, 3), (b, 1), (a, 1)]
    assert all(e.user_id == user for e in response.events)
    positions = [e.position for e in response.events]
    assert positions == sorted(positions, reverse=True)
    assert response.next_page_token == ""

    nobody = await stub.ListUserEvents(pb.ListUserEventsRequest(user_id=new_user()))
    assert list(nobody.events) == []
    assert nobody.next_page_token == ""


async def test_list_user_events_time_window(stub: Any) -> None:
    user = new_user()
    s = new_stream()
    stamps = []
    for _ in range(4):
        response = await stub.AppendToStream(append(s, event(user_id=user)))
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


async def test_list_user_events_last_days(stub: Any, store: EventStore) -> None:
    user = new_user()
    s = new_stream()
    now = datetime.now(UTC)
    async with store.pool.acquire() as conn:
        await insert_raw_event(conn, s, 1, now - timedelta(days=10), user_id=user)
        await insert_raw_event(conn, s, 2, now - timedelta(days=3), user_id=user)
    await stub.AppendToStream(append(s, event(user_id=user), expected_version=2))

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


async def test_list_user_events_event_types(stub: Any) -> None:
    user = new_user()
    x, y, z = new_type(), new_type(), new_type()
    s = new_stream()
    await stub.AppendToStream(
        append(s, event(x, user_id=user), event(y, user_id=user), event(z, user_id=user))
    )
    await stub.AppendToStream(append(s, event(x, user_id=user)))
    only_x = await stub.ListUserEvents(pb.ListUserEventsRequest(user_id=user, event_types=[x]))
    assert keys(only_x.events) == [(s, 4), (s, 1)]
    x_or_z = await stub.ListUserEvents(pb.ListUserEventsRequest(user_id=user, event_types=[x, z]))
    assert keys(x_or_z.events) == [(s, 4), (s, 3), (s, 1)]
    none = await stub.ListUserEvents(
        pb.ListUserEventsRequest(user_id=user, event_types=[new_type()])
    )
    assert list(none.events) == []


async def test_list_user_events_pages(stub: Any) -> None:
    # (events, page size): pages that do not divide evenly, that do, of one, and one page.
    for total, size in [(25, 7), (21, 7), (5, 1), (3, 100)]:
        user = new_user()
        streams = [new_stream() for _ in range(3)]
        for i in range(total):
            # Some events of other users in between, which must not show up.
            await stub.AppendToStream(
                append(
                    streams[i % 3], event(user_id=user, data={"i": i}), event(user_id=new_user())
                )
            )
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


async def test_list_user_events_pages_with_filters(stub: Any) -> None:
    user = new_user()
    x, y = new_type(), new_type()
    s = new_stream()
    for i in range(12):
        await stub.AppendToStream(append(s, event(x if i % 3 else y, user_id=user)))
    request = pb.ListUserEventsRequest(user_id=user, event_types=[x], page_size=3, last_days=1)
    pages = await all_pages(stub.ListUserEvents, request)
    assert [len(p) for p in pages] == [3, 3, 2]
    walked = [e.version for page in pages for e in page]
    assert walked == [v for v in range(12, 0, -1) if (v - 1) % 3]


async def test_list_user_events_default_and_maximum_page_size(
    store_factory: Callable[..., Any],
) -> None:
    # 1100 events: a store without the relay, which would only slow this down.
    quiet: EventStore = await store_factory(relay_enabled=False)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{quiet.server.port}") as channel:
        stub = eventstore_pb2_grpc.EventStoreServiceStub(channel)
        await check_default_and_maximum_page_size(stub)


async def check_default_and_maximum_page_size(stub: Any) -> None:
    user = new_user()
    s = new_stream()
    for _ in range(11):
        await stub.AppendToStream(
            append(s, *[event(user_id=user) for _ in range(100)])
        )  # 1100 events
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
    err = await error_of(
        stub.ListUserEvents, pb.ListUserEventsRequest(user_id=new_user(), page_size=-1)
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert metadata_of(err)["field"] == "page_size"


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
    err = await error_of(
        stub.ListCorrelatedEvents,
        pb.ListCorrelatedEventsRequest(correlation_id="x", page_token="nonsense"),
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert reason_of(err) == "INVALID_PAGE_TOKEN"


# -- CountEvents -------------------------------------------------------------------------


async def test_count_events_filters(stub: Any) -> None:
    user, other = new_user(), new_user()
    cat = new_category()
    x, y = new_type(), new_type()
    s, t = new_stream(cat), new_stream()
    r1 = await stub.AppendToStream(
        append(s, event(x, user_id=user), event(y, user_id=user), event(x, user_id=other))
    )
    r2 = await stub.AppendToStream(append(t, event(x, user_id=user), event(x)))
    r3 = await stub.AppendToStream(append(s, event(y, user_id=other), event(y)))

    async def count(**fields: Any) -> int:
        response = await stub.CountEvents(pb.CountEventsRequest(**fields))
        return int(response.count)

    assert await count(user_id=user) == 3
    assert await count(user_id=other) == 2
    assert await count(user_id=new_user()) == 0
    assert await count(event_types=[x]) == 4
    assert await count(event_types=[y]) == 3
    assert await count(event_types=[x, y]) == 7
    assert await count(category=cat) == 5
    assert await count(category=new_category()) == 0
    assert await count(user_id=user, event_types=[x]) == 2
    assert await count(user_id=user, category=cat) == 2
    assert await count(user_id=other, category=cat, event_types=[y]) == 1
    assert await count(category=cat, event_types=[x]) == 2

    # Time range: start inclusive, end exclusive, on the batches' commit times.
    assert await count(event_types=[x, y], start_time=r2.recorded_at) == 4
    assert await count(event_types=[x, y], end_time=r2.recorded_at) == 3
    assert await count(event_types=[x, y], start_time=r2.recorded_at, end_time=r3.recorded_at) == 2
    assert (
        await count(
            user_id=user, event_types=[x], start_time=r1.recorded_at, end_time=r2.recorded_at
        )
        == 1
    )
    assert await count(category=cat, start_time=r3.recorded_at) == 2

    # No filter at all counts the whole log (at least what this test wrote).
    assert await count() >= 7


async def test_count_events_invalid_range(stub: Any) -> None:
    now = datetime.now(UTC)
    err = await error_of(
        stub.CountEvents,
        pb.CountEventsRequest(start_time=ts(now), end_time=ts(now - timedelta(seconds=1))),
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT


# -- GetDailyCounts ----------------------------------------------------------------------


def day_rows(response: Any) -> list[tuple[str, str, str, int]]:
    return [(c.day, c.user_id, c.event_type, c.count) for c in response.counts]


async def test_daily_counts_match_appends_today(stub: Any) -> None:
    u, v = new_user(), new_user()
    x, y = new_type(), new_type()
    expected: Counter[tuple[str, str, str]] = Counter()

    async def put(stream_id: str, *events: Any) -> None:
        response = await stub.AppendToStream(append(stream_id, *events))
        day = when(response.recorded_at).date().isoformat()
        for e in events:
            expected[(day, e.user_id, e.event_type)] += 1

    s, t = new_stream(), new_stream()
    await put(s, event(x, user_id=u), event(x, user_id=u), event(y, user_id=u))
    await put(t, event(x, user_id=v), event(y), event(y))
    await put(s, event(x, user_id=u), event(y, user_id=v))

    want = sorted((d, user, typ, n) for (d, user, typ), n in expected.items())
    response = await stub.GetDailyCounts(pb.GetDailyCountsRequest(event_types=[x, y]))
    assert day_rows(response) == want

    by_user = await stub.GetDailyCounts(pb.GetDailyCountsRequest(user_id=u))
    assert day_rows(by_user) == [r for r in want if r[1] == u]
    assert sum(r[3] for r in day_rows(by_user)) == 4

    by_type = await stub.GetDailyCounts(pb.GetDailyCountsRequest(event_types=[y]))
    assert day_rows(by_type) == [r for r in want if r[2] == y]

    both = await stub.GetDailyCounts(pb.GetDailyCountsRequest(user_id=v, event_types=[x]))
    assert day_rows(both) == [r for r in want if r[1] == v and r[2] == x]

    # Events without a user are counted under the empty user id.
    assert [r for r in want if r[1] == ""] == [r for r in day_rows(response) if r[1] == ""]
    assert sum(r[3] for r in day_rows(response) if r[1] == "") == 2

    # The rollup agrees with counting the log itself.
    for day, user, typ, n in want:
        start = datetime.fromisoformat(day).replace(tzinfo=UTC)
        counted = await stub.CountEvents(
            pb.CountEventsRequest(
                user_id=user,
                event_types=[typ],
                start_time=ts(start),
                end_time=ts(start + timedelta(days=1)),
            )
        )
        if user:
            assert counted.count == n


async def test_daily_counts_ignore_replays_and_rejected_appends(stub: Any) -> None:
    user, kind = new_user(), new_type()
    s = new_stream()
    request = append(s, event(kind, user_id=user), event(kind, user_id=user), idempotency_key="k")
    first = await stub.AppendToStream(request)
    replay = await stub.AppendToStream(request)
    assert replay.replayed
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.AppendToStream(append(s, event(kind, user_id=user), expected_version=0))
    assert caught.value.code() == grpc.StatusCode.ABORTED
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.AppendToStream(
            append(s, event(kind, user_id=user), event("bad type!", user_id=user))
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    response = await stub.GetDailyCounts(pb.GetDailyCountsRequest(user_id=user))
    day = when(first.recorded_at).date().isoformat()
    assert day_rows(response) == [(day, user, kind, 2)]
    counted = await stub.CountEvents(pb.CountEventsRequest(user_id=user))
    assert counted.count == 2


async def test_daily_counts_day_range(stub: Any, store: EventStore) -> None:
    user, other = new_user(), new_user()
    x, y = new_type(), new_type()
    base = date(2021, 3, 10)
    rows = []
    for offset in range(6):  # 2021-03-10 .. 2021-03-15
        day = base + timedelta(days=offset)
        rows.append((day, user, x, 10 + offset))
        rows.append((day, user, y, 20 + offset))
        rows.append((day, other, x, 30 + offset))
    # daily_counts is the rollup GetDailyCounts reads (the append keeps it up to date).
    await store.pool.executemany(
        "INSERT INTO eventstore.daily_counts (day, user_id, event_type, count) "
        "VALUES ($1, $2, $3, $4)",
        rows,
    )

    def expect(
        first: date, last: date, users: set[str], types: set[str]
    ) -> list[tuple[str, str, str, int]]:
        return sorted(
            (d.isoformat(), u, t, n)
            for d, u, t, n in rows
            if first <= d <= last and u in users and t in types
        )

    async def query(**fields: Any) -> list[tuple[str, str, str, int]]:
        return day_rows(await stub.GetDailyCounts(pb.GetDailyCountsRequest(**fields)))

    def at(day: date, hour: int, minute: int = 0) -> Timestamp:
        return ts(datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC))

    d = [base + timedelta(days=i) for i in range(6)]
    # The UTC day of start_time is the first day, the UTC day of end_time the last.
    assert await query(
        user_id=user, event_types=[x, y], start_time=at(d[1], 23, 59), end_time=at(d[3], 0, 1)
    ) == expect(d[1], d[3], {user}, {x, y})
    assert await query(
        event_types=[x], start_time=at(d[2], 0), end_time=at(d[2], 23, 59)
    ) == expect(d[2], d[2], {user, other}, {x})
    assert await query(user_id=other, event_types=[x], start_time=at(d[4], 12)) == expect(
        d[4], d[5], {other}, {x}
    )
    assert await query(user_id=user, event_types=[y], end_time=at(d[0], 12)) == expect(
        d[0], d[0], {user}, {y}
    )
    assert await query(user_id=user, event_types=[x, y]) == expect(d[0], d[5], {user}, {x, y})
    assert (
        await query(
            user_id=user,
            start_time=at(base - timedelta(days=5), 0),
            end_time=at(base - timedelta(days=1), 0),
        )
        == []
    )
    # Results are ordered by day, then user, then event type.
    everything = await query(event_types=[x, y], start_time=at(d[0], 0), end_time=at(d[5], 0))
    assert everything == sorted(everything)
    assert everything == expect(d[0], d[5], {user, other}, {x, y})

    err = await error_of(
        stub.GetDailyCounts,
        pb.GetDailyCountsRequest(start_time=at(d[3], 0), end_time=at(d[1], 0)),
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
