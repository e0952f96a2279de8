"""CountEvents and GetDailyCounts: filters, time ranges and the daily rollup."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

import grpc
import pytest
from eventstore.bootstrap import EventStore
from eventstore_analytics_support import error_of, new_user, ts, when
from eventstore_storage_support import record_daily_counts
from eventstore_support import append, event, new_category, new_stream, new_type
from fundledger.eventstore.v1 import eventstore_pb2 as pb
from google.protobuf.timestamp_pb2 import Timestamp

# -- CountEvents -------------------------------------------------------------------------


async def test_count_events_filters(stub: Any, put: Any) -> None:
    user, other = new_user(), new_user()
    cat = new_category()
    x, y = new_type(), new_type()
    s, t = new_stream(cat), new_stream()
    r1 = await put(s, event(x, user_id=user), event(y, user_id=user), event(x, user_id=other))
    r2 = await put(t, event(x, user_id=user), event(x))
    r3 = await put(s, event(y, user_id=other), event(y))

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


async def test_daily_counts_match_appends_today(stub: Any, put: Any) -> None:
    u, v = new_user(), new_user()
    x, y = new_type(), new_type()
    expected: Counter[tuple[str, str, str]] = Counter()

    async def record(stream_id: str, *events: Any) -> None:
        response = await put(stream_id, *events)
        day = when(response.recorded_at).date().isoformat()
        for e in events:
            expected[(day, e.user_id, e.event_type)] += 1

    s, t = new_stream(), new_stream()
    await record(s, event(x, user_id=u), event(x, user_id=u), event(y, user_id=u))
    await record(t, event(x, user_id=v), event(y), event(y))
    await record(s, event(x, user_id=u), event(y, user_id=v))

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


async def test_daily_counts_ignore_replays_and_rejected_appends(
    stub: Any, put: Any, as_caller: Any
) -> None:
    user, kind = new_user(), new_type()
    s = new_stream()
    request = append(s, event(kind), event(kind), idempotency_key="k")
    first = await as_caller(user).AppendToStream(request)
    # A retry is a replay, whoever of the tenant sends it: nothing is counted twice.
    assert (await as_caller(user).AppendToStream(request)).replayed
    assert (await stub.AppendToStream(request)).replayed
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await put(s, event(kind, user_id=user), expected_version=0)
    assert caught.value.code() == grpc.StatusCode.ABORTED
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await put(s, event(kind, user_id=user), event("bad type!", user_id=user))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    response = await stub.GetDailyCounts(pb.GetDailyCountsRequest(user_id=user))
    day = when(first.recorded_at).date().isoformat()
    assert day_rows(response) == [(day, user, kind, 2)]
    counted = await stub.CountEvents(pb.CountEventsRequest(user_id=user))
    assert counted.count == 2


async def test_daily_counts_day_range(stub: Any, store: EventStore) -> None:
    # MODE-DEPENDENT setup (record_daily_counts): events on past days, rolled up the
    # way the storage mode does it; the expectations are the same in both modes.
    user, other = new_user(), new_user()
    x, y = new_type(), new_type()
    base = date(2021, 3, 10)
    rows = []
    for offset in range(6):  # 2021-03-10 .. 2021-03-15
        day = base + timedelta(days=offset)
        rows.append((day, user, x, 10 + offset))
        rows.append((day, user, y, 20 + offset))
        rows.append((day, other, x, 30 + offset))
    # daily_counts is what GetDailyCounts reads: a table the append keeps up to date in
    # native mode, a view over a continuous aggregate in Timescale mode.
    await record_daily_counts(store, rows)

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
