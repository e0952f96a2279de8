"""Subscribe (catch-up, live delivery, filters, cancellation) and the relay's clean stop."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any, cast

import grpc
import pytest
from eventstore.bootstrap import EventStore
from eventstore_read_support import fill, read
from eventstore_support import (
    append,
    event,
    new_category,
    new_stream,
    new_type,
    open_channel,
    subscribed_events,
)
from fundledger.eventstore.v1 import eventstore_pb2 as pb
from fundledger.eventstore.v1 import eventstore_pb2_grpc

# Safety net only: a subscription that stalls fails the test instead of hanging it.
WAIT = 10.0


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
        events += subscribed_events(message)


async def next_events(call: Any, count: int) -> list[Any]:
    """The next `count` events (pages or single events); fails on more or on a marker."""
    events: list[Any] = []
    while len(events) < count:
        message = await next_message(call)
        assert message.WhichOneof("content") in ("page", "event"), f"unexpected {message}"
        events += subscribed_events(message)
    assert len(events) == count, f"{len(events)} events, expected {count}"
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

        async with open_channel(replica) as channel:
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


async def test_subscribe_one_per_message_sends_each_event_alone(stub: Any) -> None:
    """one_per_message: catch-up and live events each in `event`, CaughtUp between, as before
    pages became the default."""
    category = new_category()
    a = new_stream(category)
    first = await stub.AppendToStream(append(a, event(), event(), event()))
    call = stub.Subscribe(
        pb.SubscribeRequest(from_position=0, categories=[category], one_per_message=True)
    )
    try:
        kinds = []
        while not kinds or kinds[-1] != "caught_up":
            kinds.append((await next_message(call)).WhichOneof("content"))
        assert kinds == ["event"] * 3 + ["caught_up"]
        live = await stub.AppendToStream(append(a, event(), event()))
        messages = [await next_message(call) for _ in range(2)]
        assert [m.WhichOneof("content") for m in messages] == ["event", "event"]
        assert [m.event.position for m in messages] == [live.first_position, live.last_position]
        assert first.last_position < live.first_position
    finally:
        call.cancel()


async def test_subscribe_pages_catch_up_then_live_under_concurrent_appends(
    quiet_stub: Any, store_factory: Callable[..., Any]
) -> None:
    """Pages (the default): catch-up sends full pages, then CaughtUp, then live pages. Two
    replicas append all along — before, during and after the catch-up (the subscription starts
    once some of their appends landed; the catch-up reads pages of 50 while they go on) — and
    every event arrives exactly once, in position order, split by the marker at its position."""
    stub = quiet_stub
    replica = await store_factory(relay_enabled=False)
    category = new_category()
    streams = [new_stream(category) for _ in range(4)]
    for s in streams:
        await fill(stub, s, 60)
    async with open_channel(replica) as channel:
        stubs = [stub, eventstore_pb2_grpc.EventStoreServiceStub(channel)]
        appended: list[Any] = []
        some_landed = asyncio.Event()  # the subscription starts after 20 of 240 appends

        async def writer(w: int) -> None:
            for i in range(60):
                request = append(streams[(w + i) % 4], *[event() for _ in range(1 + i % 3)])
                appended.append(await stubs[w % 2].AppendToStream(request))
                if len(appended) >= 20:
                    some_landed.set()

        writers = asyncio.gather(*(writer(w) for w in range(4)))
        async with asyncio.timeout(WAIT):
            await some_landed.wait()
        call = stub.Subscribe(
            pb.SubscribeRequest(from_position=0, categories=[category], batch_size=50)
        )
        try:
            messages: list[pb.SubscribeResponse] = []
            async with asyncio.timeout(WAIT * 3):
                while not (message := await call.read()).HasField("caught_up"):
                    messages.append(message)
                marker = message
                await writers
                # One more after the marker, whatever the writers' timing: live for sure.
                appended.append(await stub.AppendToStream(append(streams[0], event())))
                total = 240 + sum(r.last_position - r.first_position + 1 for r in appended)
                delivered = sum(len(m.page.events) for m in messages)
                live: list[pb.SubscribeResponse] = []
                while delivered + sum(len(m.page.events) for m in live) < total:
                    live.append(await next_message(call))
        finally:
            call.cancel()
    assert all(m.WhichOneof("content") == "page" for m in messages + live)
    caught = [e for m in messages for e in m.page.events]
    later = [e for m in live for e in m.page.events]
    # Catch-up pages are full but for the last; the marker splits the log at its position.
    assert all(len(m.page.events) == 50 for m in messages[:-1])
    # The log's first 240 events of the category are the fill, before any writer ran; the
    # writers' events arrive on both sides of the marker.
    assert [(e.stream_id, e.version) for e in caught[:240]] == [
        (s, v) for s in streams for v in range(1, 61)
    ]
    assert len(caught) > 240
    assert later[-1].position == appended[-1].last_position
    assert all(e.position <= marker.caught_up.position for e in caught)
    assert all(e.position > marker.caught_up.position for e in later)
    expected = sorted(
        [p for r in appended for p in range(r.first_position, r.last_position + 1)]
        + [e.position for e in caught[:240]]
    )
    got = [e.position for e in caught + later]
    assert got == expected  # no gap, no repeat, position order
    for s in streams:
        versions = [e.version for e in caught + later if e.stream_id == s]
        assert versions == list(range(1, len(versions) + 1))


async def test_subscribe_negative_position_is_invalid(stub: Any) -> None:
    call = stub.Subscribe(pb.SubscribeRequest(from_position=-1))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async with asyncio.timeout(WAIT):
            await call.read()
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


# -- shutdown ----------------------------------------------------------------------------


async def test_relay_stop_is_not_lost_when_a_wake_up_races_it(store: EventStore) -> None:
    # Found because the teardown of the read and subscribe tests hung now and then (the
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
