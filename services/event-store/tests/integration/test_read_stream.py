"""ReadStream (directions, bounds, paging, errors, batch_size) and GetStreamInfo."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from datetime import UTC
from typing import Any

import grpc
import pytest
from eventstore.domain.append_request import Limits
from eventstore_read_support import fill, read, read_all, read_error
from eventstore_support import (
    append,
    collect,
    event,
    metadata_of,
    new_category,
    new_stream,
    open_channel,
    reason_of,
)
from fundledger.eventstore.v1 import eventstore_pb2 as pb
from fundledger.eventstore.v1 import eventstore_pb2_grpc
from fundledger_platform.errors import bad_request


def numbers(events: list[Any]) -> list[int]:
    return [json.loads(e.data)["i"] for e in events]


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
    assert reason_of(err) == "FIELD_NEGATIVE"
    assert metadata_of(err)["field"] == "max_count"
    err = await read_error(stub.ReadStream(pb.ReadStreamRequest(stream_id=s, from_version=-1)))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert metadata_of(err)["field"] == "from_version"


async def test_recorded_event_fields_round_trip(stub: Any, as_caller: Any) -> None:
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
    # The user is the caller's (user-42 appends as themselves); tenant and actor are the server's.
    response = await as_caller("user-42").AppendToStream(append(s, sent))
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
    assert (got.tenant, got.actor) == ("dev", "")
    assert got.source == "test-suite"
    assert got.recorded_at == response.recorded_at

    # The same event through ReadAll, and unset optional fields come back empty.
    [via_all] = await read_all(stub, from_position=got.position, max_count=1)
    assert via_all == got
    plain = new_stream(category)
    await stub.AppendToStream(append(plain, event(data={"x": 1})))
    [bare] = await read(stub, stream_id=plain)
    assert (bare.causation_id, bare.correlation_id, bare.source) == ("",) * 3
    assert bare.user_id == "alice"  # the caller, though the request named nobody
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
    pages = [r async for r in stub.ReadStream(pb.ReadStreamRequest(stream_id=s))]
    assert [len(p.events) for p in pages] == [1000, 201]  # the default page: 1000 events
    # One per message pages its queries too (500 rows each).
    assert await read(stub, stream_id=s, one_per_message=True) == forwards

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


# -- pages and batch_size ---------------------------------------------------------------


async def test_reads_return_pages_by_default(stub: Any) -> None:
    """No field set: every response is a page in `events`, `event` unset; the same events as
    one_per_message, which sends each in `event` alone."""
    category = new_category()
    s = new_stream(category)
    for chunk in range(3):
        await stub.AppendToStream(
            append(s, *[event(data={"i": chunk * 50 + i}) for i in range(50)])
        )
    default = [r async for r in stub.ReadStream(pb.ReadStreamRequest(stream_id=s))]
    assert [len(p.events) for p in default] == [150]
    assert not any(p.HasField("event") for p in default)
    single = [
        r async for r in stub.ReadStream(pb.ReadStreamRequest(stream_id=s, one_per_message=True))
    ]
    assert len(single) == 150
    assert all(r.HasField("event") and not r.events for r in single)
    assert [r.event for r in single] == list(default[0].events)
    assert numbers([r.event for r in single]) == list(range(150))

    everything = [r async for r in stub.ReadAll(pb.ReadAllRequest(categories=[category]))]
    assert [len(p.events) for p in everything] == [150]
    assert not any(p.HasField("event") for p in everything)
    assert list(everything[0].events) == list(default[0].events)
    single_all = [
        r
        async for r in stub.ReadAll(pb.ReadAllRequest(categories=[category], one_per_message=True))
    ]
    assert [r.event for r in single_all] == list(default[0].events)


async def test_batch_size_bounds_each_page(stub: Any) -> None:
    """batch_size > 0: at most that many events per page, the same events in the same order;
    above the maximum (1000) it is capped, as a list's page size."""
    s = new_stream()
    for chunk in range(3):
        await stub.AppendToStream(
            append(s, *[event(data={"i": chunk * 50 + i}) for i in range(50)])
        )
    single = await read(stub, stream_id=s, one_per_message=True)
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
    capped = [r async for r in stub.ReadStream(pb.ReadStreamRequest(stream_id=s, batch_size=5000))]
    assert [len(p.events) for p in capped] == [150]
    all_pages = [r async for r in stub.ReadAll(pb.ReadAllRequest(from_position=1, batch_size=1000))]
    assert [e.position for p in all_pages for e in p.events] == list(range(1, 151))
    some_pages = [r async for r in stub.ReadAll(pb.ReadAllRequest(from_position=1, batch_size=7))]
    assert [len(p.events) for p in some_pages] == [7] * 21 + [3]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in stub.ReadStream(pb.ReadStreamRequest(stream_id=s, batch_size=-1)):
            pass
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (reason_of(caught.value), metadata_of(caught.value)["field"]) == (
        "FIELD_NEGATIVE",
        "batch_size",
    )


# Big events: three fit in a page (~0.9 MB), the fourth takes it past 1 MiB and ends it.
BIG = "x" * 300_000


async def test_a_page_ends_once_its_bytes_reach_a_mebibyte(
    store_factory: Callable[..., Any],
) -> None:
    """The byte bound: whatever the batch size, a page ends with the event that takes it to
    1 MiB, so it stays far below a client's 4 MiB receive limit; small events fill pages."""
    big_events = Limits(max_events=10, max_event_bytes=512 * 1024, max_append_bytes=1024 * 1024)
    store = await store_factory(relay_enabled=False, limits=big_events)
    async with open_channel(store) as channel:
        await _read_big_events(eventstore_pb2_grpc.EventStoreServiceStub(channel))


async def _read_big_events(stub: Any) -> None:
    category = new_category()
    s = new_stream(category)
    for i in range(9):
        await stub.AppendToStream(append(s, event(data={"i": i, "pad": BIG})))
    for fields in ({}, {"batch_size": 1000}, {"batch_size": 5}):
        pages = [r async for r in stub.ReadStream(pb.ReadStreamRequest(stream_id=s, **fields))]
        assert [len(p.events) for p in pages] == [4, 4, 1], fields
        assert numbers([e for p in pages for e in p.events]) == list(range(9))
        assert all(1024 * 1024 <= p.ByteSize() < 2 * 1024 * 1024 for p in pages[:-1])
    small = [r async for r in stub.ReadStream(pb.ReadStreamRequest(stream_id=s, batch_size=3))]
    assert [len(p.events) for p in small] == [3, 3, 3]
    via_all = [r async for r in stub.ReadAll(pb.ReadAllRequest(categories=[category]))]
    assert [len(p.events) for p in via_all] == [4, 4, 1]


async def test_batch_size_with_one_per_message_is_refused(stub: Any) -> None:
    """A page size and one event per message contradict each other: INVALID_ARGUMENT naming
    batch_size, before anything is read (ReadStream, ReadAll and Subscribe alike)."""
    s = new_stream()
    await stub.AppendToStream(append(s, event()))
    calls = [
        stub.ReadStream(pb.ReadStreamRequest(stream_id=s, batch_size=10, one_per_message=True)),
        stub.ReadAll(pb.ReadAllRequest(batch_size=1, one_per_message=True)),
        stub.Subscribe(pb.SubscribeRequest(from_position=0, batch_size=2, one_per_message=True)),
    ]
    for call in calls:
        err = await read_error(call)
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert (reason_of(err), metadata_of(err)["field"]) == ("FIELD_MALFORMED", "batch_size")
        violations = bad_request(err)
        assert violations is not None
        [violation] = violations.field_violations
        assert violation.field == "batch_size"
        assert "one_per_message" in violation.description
    # Nothing changed: the stream reads as before, in pages and one by one.
    assert [e.version for e in await read(stub, stream_id=s)] == [1]
    assert [e.version for e in await read(stub, stream_id=s, one_per_message=True)] == [1]
