"""ReadStream, ReadAll, Subscribe and GetStreamInfo against a real event store."""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC
from typing import Any, cast

import grpc
import pytest
from eventstore.bootstrap import EventStore
from fundledger.eventstore.v1 import eventstore_pb2 as pb
from fundledger.eventstore.v1 import eventstore_pb2_grpc
from helpers import (
    append,
    collect,
    event,
    metadata_of,
    new_category,
    new_stream,
    new_type,
    reason_of,
)

# Safety net only: a subscription that stalls fails the test instead of hanging it.
WAIT = 10.0


@pytest.fixture
async def quiet_stub(store_factory: Callable[..., Any]) -> AsyncIterator[Any]:
    """A stub to an event store without the relay, for tests that write a lot and
    do not need the bus (publishing thousands of events one ack at a time only
    slows them down)."""
    quiet: EventStore = await store_factory(relay_enabled=False)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{quiet.server.port}") as channel:
        yield eventstore_pb2_grpc.EventStoreServiceStub(channel)


async def fill(stub: Any, stream_id: str, count: int, **fields: Any) -> pb.AppendToStreamResponse:
    """Appends `count` events numbered 1..count (in batches of at most 100)."""
    last: pb.AppendToStreamResponse | None = None
    done = 0
    while done < count:
        size = min(100, count - done)
        batch = [event(data={"i": done + k + 1}, **fields) for k in range(size)]
        last = await stub.AppendToStream(append(stream_id, *batch))
        done += size
    assert last is not None
    return last


def numbers(events: list[Any]) -> list[int]:
    return [json.loads(e.data)["i"] for e in events]


async def read(stub: Any, **fields: Any) -> list[Any]:
    return await collect(stub.ReadStream(pb.ReadStreamRequest(**fields)))


async def read_all(stub: Any, **fields: Any) -> list[Any]:
    return await collect(stub.ReadAll(pb.ReadAllRequest(**fields)))


async def read_error(call: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await collect(call)
    return caught.value


# -- ReadStream --------------------------------------------------------------------------


async def test_read_stream_forwards_and_backwards(stub: Any) -> None:
    s = new_stream()
    await fill(stub, s, 10)
    every = list(range(1, 11))

    forwards = await read(stub, stream_id=s)
    assert [e.version for e in forwards] == every
    assert numbers(forwards) == every

    explicit = await read(stub, stream_id=s, direction=pb.READ_DIRECTION_FORWARDS)
    assert [e.version for e in explicit] == every

    from_four = await read(stub, stream_id=s, from_version=4)
    assert [e.version for e in from_four] == list(range(4, 11))

    backwards = await read(stub, stream_id=s, direction=pb.READ_DIRECTION_BACKWARDS)
    assert [e.version for e in backwards] == every[::-1]
    assert numbers(backwards) == every[::-1]

    back_from_six = await read(
        stub, stream_id=s, direction=pb.READ_DIRECTION_BACKWARDS, from_version=6
    )
    assert [e.version for e in back_from_six] == [6, 5, 4, 3, 2, 1]

    # Versions past either end give nothing (forwards) or start at the head (backwards).
    assert await read(stub, stream_id=s, from_version=11) == []
    beyond = await read(stub, stream_id=s, direction=pb.READ_DIRECTION_BACKWARDS, from_version=50)
    assert [e.version for e in beyond] == every[::-1]


async def test_read_stream_max_count(stub: Any) -> None:
    s = new_stream()
    await fill(stub, s, 10)
    assert [e.version for e in await read(stub, stream_id=s, max_count=3)] == [1, 2, 3]
    assert [e.version for e in await read(stub, stream_id=s, from_version=5, max_count=2)] == [
        5,
        6,
    ]
    back = await read(stub, stream_id=s, direction=pb.READ_DIRECTION_BACKWARDS, max_count=4)
    assert [e.version for e in back] == [10, 9, 8, 7]
    back_from = await read(
        stub, stream_id=s, direction=pb.READ_DIRECTION_BACKWARDS, from_version=3, max_count=10
    )
    assert [e.version for e in back_from] == [3, 2, 1]
    # 0 means "all".
    assert len(await read(stub, stream_id=s, max_count=0)) == 10
    assert len(await read(stub, stream_id=s, max_count=1000)) == 10


async def test_read_stream_max_recorded_at_bound(stub: Any) -> None:
    s = new_stream()
    first = await stub.AppendToStream(append(s, event(data={"i": 1}), event(data={"i": 2})))
    # The pause only makes the second batch's commit time differ from the first's;
    # the bound, not the pause, decides what the read returns.
    await asyncio.sleep(0.05)
    second = await stub.AppendToStream(append(s, event(data={"i": 3}), event(data={"i": 4})))
    assert second.recorded_at.ToDatetime() > first.recorded_at.ToDatetime()

    bounded = await read(stub, stream_id=s, max_recorded_at=first.recorded_at)
    assert [e.version for e in bounded] == [1, 2]
    assert all(e.recorded_at == first.recorded_at for e in bounded)

    backwards = await read(
        stub,
        stream_id=s,
        direction=pb.READ_DIRECTION_BACKWARDS,
        max_recorded_at=first.recorded_at,
    )
    assert [e.version for e in backwards] == [2, 1]

    everything = await read(stub, stream_id=s, max_recorded_at=second.recorded_at)
    assert [e.version for e in everything] == [1, 2, 3, 4]

    before_all = first.recorded_at.ToDatetime(tzinfo=UTC).replace(year=2000)
    early = pb.ReadStreamRequest(stream_id=s)
    early.max_recorded_at.FromDatetime(before_all)
    assert await collect(stub.ReadStream(early)) == []


async def test_read_stream_unknown_stream_is_not_found(stub: Any) -> None:
    s = new_stream()
    err = await read_error(stub.ReadStream(pb.ReadStreamRequest(stream_id=s)))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert reason_of(err) == "STREAM_NOT_FOUND"
    assert metadata_of(err)["stream_id"] == s


MALFORMED_STREAM_IDS = ["", "no_dash", "Fund-1", "fund-", "-abc", "fund-a b", "fund-" + "x" * 300]


async def test_read_stream_malformed_stream_id(stub: Any) -> None:
    for stream_id in MALFORMED_STREAM_IDS:
        err = await read_error(stub.ReadStream(pb.ReadStreamRequest(stream_id=stream_id)))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, stream_id
        assert reason_of(err) == "STREAM_ID_INVALID", stream_id
        assert metadata_of(err)["field"] == "stream_id", stream_id


async def test_read_stream_negative_arguments(stub: Any) -> None:
    s = new_stream()
    await fill(stub, s, 2)
    err = await read_error(stub.ReadStream(pb.ReadStreamRequest(stream_id=s, max_count=-1)))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert metadata_of(err)["field"] == "max_count"
    err = await read_error(stub.ReadStream(pb.ReadStreamRequest(stream_id=s, from_version=-1)))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert metadata_of(err)["field"] == "from_version"


async def test_recorded_event_fields_round_trip(stub: Any) -> None:
    category = new_category()
    s = new_stream(category)
    event_id = str(uuid.uuid4())
    data = {
        "name": "Fonds Été 2024 — ünïcödé",
        "amountCents": 9_007_199_254_740_993,
        "rate": 1.25,
        "nested": {"list": [1, "two", None, True, {"deep": []}], "empty": {}},
    }
    metadata = {"client": "tests", "trace-ish": "a=b;c=d", "unicode": "ß→✓"}
    sent = event(
        "SOMETHING_HAPPENED",
        data,
        event_id=event_id,
        schema_version=3,
        metadata=metadata,
        causation_id="cause-1",
        correlation_id="corr-1",
        user_id="user-42",
        source="test-suite",
    )
    response = await stub.AppendToStream(append(s, sent))
    [got] = await read(stub, stream_id=s)

    assert got.stream_id == s
    assert got.category == category
    assert got.version == 1
    assert got.position == response.first_position == response.last_position
    assert got.event_id == event_id
    assert list(response.event_ids) == [event_id]
    assert got.event_type == "SOMETHING_HAPPENED"
    assert got.schema_version == 3
    assert json.loads(got.data) == data
    # The server may add a W3C traceparent to metadata when the call is traced.
    assert {k: v for k, v in got.metadata.items() if k != "traceparent"} == metadata
    assert got.causation_id == "cause-1"
    assert got.correlation_id == "corr-1"
    assert got.user_id == "user-42"
    assert got.source == "test-suite"
    assert got.recorded_at == response.recorded_at

    # The same event through ReadAll, and unset optional fields come back empty.
    [via_all] = await read_all(stub, from_position=got.position, max_count=1)
    assert via_all == got
    plain = new_stream(category)
    await stub.AppendToStream(append(plain, event(data={"x": 1})))
    [bare] = await read(stub, stream_id=plain)
    assert (bare.causation_id, bare.correlation_id, bare.user_id, bare.source) == ("",) * 4
    assert bare.schema_version == 1  # 0 is read as 1
    uuid.UUID(bare.event_id)  # generated by the server


async def test_read_stream_pages_past_500_events(quiet_stub: Any) -> None:
    stub = quiet_stub
    s = new_stream()
    await fill(stub, s, 1201)
    every = list(range(1, 1202))

    forwards = await read(stub, stream_id=s)
    assert [e.version for e in forwards] == every
    assert numbers(forwards) == every

    backwards = await read(stub, stream_id=s, direction=pb.READ_DIRECTION_BACKWARDS)
    assert [e.version for e in backwards] == every[::-1]

    some = await read(stub, stream_id=s, from_version=100, max_count=650)
    assert [e.version for e in some] == list(range(100, 750))
    some_back = await read(
        stub, stream_id=s, direction=pb.READ_DIRECTION_BACKWARDS, from_version=1100, max_count=501
    )
    assert [e.version for e in some_back] == list(range(1100, 599, -1))
    exactly_a_page = await read(stub, stream_id=s, max_count=500)
    assert [e.version for e in exactly_a_page] == list(range(1, 501))


# -- ReadAll -----------------------------------------------------------------------------


async def test_read_all_from_position_and_max_count(stub: Any) -> None:
    a, b = new_stream(), new_stream()
    ra = await stub.AppendToStream(append(a, event(), event(), event()))
    rb = await stub.AppendToStream(append(b, event(), event()))
    assert rb.first_position == ra.last_position + 1

    from_second = await read_all(stub, from_position=ra.first_position + 1)
    assert [e.position for e in from_second] == list(
        range(ra.first_position + 1, rb.last_position + 1)
    )
    assert [(e.stream_id, e.version) for e in from_second] == [(a, 2), (a, 3), (b, 1), (b, 2)]

    limited = await read_all(stub, from_position=ra.first_position, max_count=2)
    assert [(e.stream_id, e.version) for e in limited] == [(a, 1), (a, 2)]

    everything = await read_all(stub)
    positions = [e.position for e in everything]
    assert positions == sorted(set(positions)), "positions must strictly increase"
    assert positions[0] >= 1
    assert positions[-1] == rb.last_position

    assert await read_all(stub, from_position=rb.last_position + 1) == []


async def test_read_all_filters(stub: Any) -> None:
    cat_a, cat_b = new_category(), new_category()
    type_x, type_y = new_type(), new_type()
    a, b, other = new_stream(cat_a), new_stream(cat_b), new_stream()
    await stub.AppendToStream(append(a, event(type_x), event(type_y)))
    await stub.AppendToStream(append(other, event(type_x)))
    await stub.AppendToStream(append(b, event(type_y), event(type_x)))
    await stub.AppendToStream(append(a, event(type_x)))

    by_cat = await read_all(stub, categories=[cat_a])
    assert [(e.stream_id, e.version) for e in by_cat] == [(a, 1), (a, 2), (a, 3)]
    assert {e.category for e in by_cat} == {cat_a}

    two_cats = await read_all(stub, categories=[cat_a, cat_b])
    assert [(e.stream_id, e.version) for e in two_cats] == [(a, 1), (a, 2), (b, 1), (b, 2), (a, 3)]

    by_type = await read_all(stub, event_types=[type_x])
    assert [(e.stream_id, e.version) for e in by_type] == [(a, 1), (other, 1), (b, 2), (a, 3)]

    both = await read_all(stub, categories=[cat_a, cat_b], event_types=[type_y])
    assert [(e.stream_id, e.version) for e in both] == [(a, 2), (b, 1)]

    from_pos = await read_all(stub, event_types=[type_x], from_position=by_type[1].position + 1)
    assert [(e.stream_id, e.version) for e in from_pos] == [(b, 2), (a, 3)]

    capped = await read_all(stub, event_types=[type_x], max_count=2)
    assert [(e.stream_id, e.version) for e in capped] == [(a, 1), (other, 1)]

    assert await read_all(stub, categories=[new_category()]) == []

    for got in (by_cat, two_cats, by_type, both):
        positions = [e.position for e in got]
        assert all(p < q for p, q in itertools.pairwise(positions))


async def test_read_all_pages_past_500_events(quiet_stub: Any) -> None:
    stub = quiet_stub
    category = new_category()
    a, b = new_stream(category), new_stream(category)
    await fill(stub, a, 400)
    await fill(stub, b, 400)
    got = await read_all(stub, categories=[category])
    assert len(got) == 800
    assert [(e.stream_id, e.version) for e in got] == [(a, v) for v in range(1, 401)] + [
        (b, v) for v in range(1, 401)
    ]
    assert all(p.position < q.position for p, q in itertools.pairwise(got))
    capped = await read_all(stub, categories=[category], max_count=650)
    assert [e.position for e in capped] == [e.position for e in got[:650]]


async def test_read_all_negative_arguments(stub: Any) -> None:
    err = await read_error(stub.ReadAll(pb.ReadAllRequest(max_count=-1)))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert metadata_of(err)["field"] == "max_count"
    err = await read_error(stub.ReadAll(pb.ReadAllRequest(from_position=-5)))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert metadata_of(err)["field"] == "from_position"


# -- Subscribe ---------------------------------------------------------------------------


async def next_message(call: Any) -> pb.SubscribeResponse:
    async with asyncio.timeout(WAIT):
        message = await call.read()
    # grpc.aio.EOF when the server ended the stream.
    assert isinstance(message, pb.SubscribeResponse), "subscription ended unexpectedly"
    return message


async def until_caught_up(call: Any) -> tuple[list[Any], int]:
    """Events delivered before the caught_up marker, and the marker's position."""
    events: list[Any] = []
    while True:
        message = await next_message(call)
        if message.HasField("caught_up"):
            return events, message.caught_up.position
        events.append(message.event)


async def next_events(call: Any, count: int) -> list[Any]:
    events: list[Any] = []
    while len(events) < count:
        message = await next_message(call)
        assert message.HasField("event"), f"unexpected {message}"
        events.append(message.event)
    return events


async def test_subscribe_catch_up_then_live(stub: Any) -> None:
    category = new_category()
    a, b = new_stream(category), new_stream(category)
    first = await stub.AppendToStream(append(a, event(), event()))
    await stub.AppendToStream(append(b, event()))

    call = stub.Subscribe(pb.SubscribeRequest(from_position=first.first_position))
    try:
        caught, head = await until_caught_up(call)
        assert [(e.stream_id, e.version) for e in caught] == [(a, 1), (a, 2), (b, 1)]
        assert head == caught[-1].position

        live_a = await stub.AppendToStream(append(a, event(), event()))
        live_b = await stub.AppendToStream(append(b, event()))
        live = await next_events(call, 3)
        assert [(e.stream_id, e.version) for e in live] == [(a, 3), (a, 4), (b, 2)]
        assert [e.position for e in live] == [
            live_a.first_position,
            live_a.last_position,
            live_b.first_position,
        ]
        # Nothing is delivered twice: the next message is the next append.
        live_c = await stub.AppendToStream(append(a, event()))
        [again] = await next_events(call, 1)
        assert again.position == live_c.first_position
    finally:
        call.cancel()


async def test_subscribe_from_position_zero_reads_the_whole_log(stub: Any) -> None:
    a = new_stream()
    appended = await stub.AppendToStream(append(a, event(), event(), event()))
    call = stub.Subscribe(pb.SubscribeRequest(from_position=0))
    try:
        caught, head = await until_caught_up(call)
        positions = [e.position for e in caught]
        assert positions == list(range(1, appended.last_position + 1))
        assert head == appended.last_position
    finally:
        call.cancel()


async def test_subscribe_filters_apply_to_catch_up_and_live(stub: Any) -> None:
    cat_a, cat_b = new_category(), new_category()
    type_x, type_y = new_type(), new_type()
    a, b = new_stream(cat_a), new_stream(cat_b)
    start = await stub.AppendToStream(append(a, event(type_x), event(type_y)))
    await stub.AppendToStream(append(b, event(type_x)))
    await stub.AppendToStream(append(a, event(type_x)))

    by_cat = stub.Subscribe(
        pb.SubscribeRequest(from_position=start.first_position, categories=[cat_a])
    )
    by_type = stub.Subscribe(
        pb.SubscribeRequest(from_position=start.first_position, event_types=[type_x])
    )
    by_both = stub.Subscribe(
        pb.SubscribeRequest(
            from_position=start.first_position, categories=[cat_b], event_types=[type_y]
        )
    )
    try:
        caught, _ = await until_caught_up(by_cat)
        assert [(e.stream_id, e.version) for e in caught] == [(a, 1), (a, 2), (a, 3)]
        caught, _ = await until_caught_up(by_type)
        assert [(e.stream_id, e.version) for e in caught] == [(a, 1), (b, 1), (a, 3)]
        caught, _ = await until_caught_up(by_both)
        assert caught == []

        # Live: events that do not match come first, so a subscription that
        # ignored its filters would deliver them before the matching ones.
        await stub.AppendToStream(append(b, event(type_y)))
        await stub.AppendToStream(append(b, event(type_x)))
        await stub.AppendToStream(append(a, event(type_y)))
        await stub.AppendToStream(append(a, event(type_x)))

        live = await next_events(by_cat, 2)
        assert [(e.stream_id, e.version, e.event_type) for e in live] == [
            (a, 4, type_y),
            (a, 5, type_x),
        ]
        live = await next_events(by_type, 2)
        assert [(e.stream_id, e.version) for e in live] == [(b, 3), (a, 5)]
        live = await next_events(by_both, 1)
        assert [(e.stream_id, e.version) for e in live] == [(b, 2)]
    finally:
        for call in (by_cat, by_type, by_both):
            call.cancel()


async def test_subscribe_without_position_delivers_only_new_events(stub: Any) -> None:
    a = new_stream()
    old = await stub.AppendToStream(append(a, event(), event()))
    call = stub.Subscribe(pb.SubscribeRequest())
    try:
        caught, head = await until_caught_up(call)
        assert caught == []
        assert head >= old.last_position
        new = await stub.AppendToStream(append(a, event()))
        [got] = await next_events(call, 1)
        assert (got.stream_id, got.version, got.position) == (a, 3, new.first_position)
    finally:
        call.cancel()


async def test_subscribe_cancel_ends_cleanly(stub: Any) -> None:
    a = new_stream()
    await stub.AppendToStream(append(a, event()))
    calls = [stub.Subscribe(pb.SubscribeRequest(from_position=0)) for _ in range(10)]
    for call in calls:
        await until_caught_up(call)
    for call in calls:
        assert call.cancel()
    for call in calls:
        assert call.cancelled()
        assert await call.code() == grpc.StatusCode.CANCELLED

    # The server goes on serving: reads, appends and a new live subscription.
    assert [e.version for e in await read(stub, stream_id=a)] == [1]
    fresh = stub.Subscribe(pb.SubscribeRequest())
    try:
        await until_caught_up(fresh)
        appended = await stub.AppendToStream(append(a, event()))
        [got] = await next_events(fresh, 1)
        assert got.position == appended.first_position
    finally:
        fresh.cancel()


async def test_subscribe_large_catch_up_then_concurrent_live_appends(
    quiet_stub: Any, store_factory: Callable[..., Any]
) -> None:
    # Catch-up pages through more than 500 events; then appends from two replicas
    # at once arrive live, each exactly once and in position order.
    stub = quiet_stub
    replica = await store_factory(relay_enabled=False)
    category = new_category()
    streams = [new_stream(category) for _ in range(4)]
    for s in streams:
        await fill(stub, s, 150)
    call = stub.Subscribe(pb.SubscribeRequest(from_position=0, categories=[category]))
    try:
        caught, head = await until_caught_up(call)
        assert len(caught) == 600
        assert [(e.stream_id, e.version) for e in caught] == [
            (s, v) for s in streams for v in range(1, 151)
        ]
        assert all(p.position < q.position for p, q in itertools.pairwise(caught))
        assert head >= caught[-1].position

        async with grpc.aio.insecure_channel(f"127.0.0.1:{replica.server.port}") as channel:
            stubs = [stub, eventstore_pb2_grpc.EventStoreServiceStub(channel)]
            responses = await asyncio.gather(
                *(
                    stubs[i % 2].AppendToStream(append(streams[i % 4], event(), event(), event()))
                    for i in range(40)
                )
            )
        live = await next_events(call, 120)
        expected = sorted(
            p for r in responses for p in range(r.first_position, r.last_position + 1)
        )
        assert [e.position for e in live] == expected
        for s in streams:
            assert [e.version for e in live if e.stream_id == s] == list(range(151, 181))
    finally:
        call.cancel()


async def test_subscribe_negative_position_is_invalid(stub: Any) -> None:
    call = stub.Subscribe(pb.SubscribeRequest(from_position=-1))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async with asyncio.timeout(WAIT):
            await call.read()
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


# -- GetStreamInfo -----------------------------------------------------------------------


async def test_get_stream_info(stub: Any) -> None:
    category = new_category()
    s = new_stream(category)
    first = await stub.AppendToStream(append(s, event(), event(), event()))
    await stub.AppendToStream(append(s, event()))
    last = await stub.AppendToStream(append(s, event(), event()))

    info = await stub.GetStreamInfo(pb.GetStreamInfoRequest(stream_id=s))
    assert info.stream_id == s
    assert info.category == category
    assert info.version == 6
    assert info.event_count == 6
    assert info.first_recorded_at == first.recorded_at
    assert info.last_recorded_at == last.recorded_at
    events = await read(stub, stream_id=s)
    assert info.first_recorded_at == events[0].recorded_at
    assert info.last_recorded_at == events[-1].recorded_at


async def test_get_stream_info_errors(stub: Any) -> None:
    s = new_stream()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetStreamInfo(pb.GetStreamInfoRequest(stream_id=s))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert reason_of(caught.value) == "STREAM_NOT_FOUND"
    assert metadata_of(caught.value)["stream_id"] == s

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetStreamInfo(pb.GetStreamInfoRequest(stream_id="not a stream"))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert reason_of(caught.value) == "STREAM_ID_INVALID"


# -- shutdown ----------------------------------------------------------------------------


async def test_relay_stop_is_not_lost_when_a_wake_up_races_it(store: EventStore) -> None:
    # Found because the teardown of the read tests above hung now and then (the
    # relay is still publishing their events when the store stops). A NOTIFY that
    # lands just as the store shuts down wakes the idle relay in the same loop turn
    # as stop() cancels it. Python 3.11's asyncio.wait_for then returns the wait's
    # result instead of raising CancelledError, the relay loop goes on, and stop()
    # (so the whole server shutdown) waits for it forever.
    relay = store.relay
    async with asyncio.timeout(WAIT):
        # The idle leader waits on its wake-up event (white box: Event._waiters).
        while True:
            if relay.is_leader and cast(Any, relay._wake)._waiters:
                break
            await asyncio.sleep(0.01)

    relay._on_notify()  # what the notification listener calls
    stopping = asyncio.ensure_future(relay.stop())
    done, _ = await asyncio.wait({stopping}, timeout=2)
    stuck = stopping not in done
    if stuck and relay._task is not None:
        relay._task.cancel()  # a second cancel usually gets through; keeps teardown short
        await asyncio.wait({stopping}, timeout=2)
    assert not stuck, "Relay.stop() did not return: the relay swallowed its cancellation"
    assert relay._task is None


async def test_batched_reads_return_the_same_events_in_pages(stub: Any) -> None:
    """batch_size > 0: the same events as the one-per-message form, in pages."""
    s = new_stream()
    for chunk in range(3):
        await stub.AppendToStream(
            append(s, *[event(data={"i": chunk * 50 + i}) for i in range(50)])
        )
    single = [r.event async for r in stub.ReadStream(pb.ReadStreamRequest(stream_id=s))]
    pages = [r async for r in stub.ReadStream(pb.ReadStreamRequest(stream_id=s, batch_size=64))]
    assert [len(p.events) for p in pages] == [64, 64, 22]
    assert [e for p in pages for e in p.events] == single
    backwards = [
        e.version
        async for p in stub.ReadStream(
            pb.ReadStreamRequest(
                stream_id=s, batch_size=100, direction=pb.READ_DIRECTION_BACKWARDS, max_count=120
            )
        )
        for e in p.events
    ]
    assert backwards == list(range(150, 30, -1))
    all_pages = [r async for r in stub.ReadAll(pb.ReadAllRequest(from_position=1, batch_size=1000))]
    assert [e.position for p in all_pages for e in p.events] == list(range(1, 151))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in stub.ReadStream(pb.ReadStreamRequest(stream_id=s, batch_size=-1)):
            pass
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
