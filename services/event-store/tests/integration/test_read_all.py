"""ReadAll: positions, max_count, category and event-type filters, paging and errors."""

from __future__ import annotations

import itertools
from typing import Any

import grpc
from eventstore_read_support import fill, read_all, read_error
from eventstore_support import (
    append,
    event,
    metadata_of,
    new_category,
    new_stream,
    new_type,
    reason_of,
)
from fundledger.eventstore.v1 import eventstore_pb2 as pb


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
    assert reason_of(err) == "FIELD_NEGATIVE"
