"""The hash chain as the append computes it in SQL (migration 0009) equals the kernel's reference
(fundledger_kernel.chain) recomputed from what a reader gets: every field set and unset,
non-ASCII text, effective time set and unset, several appends of one stream in one group, a
stream written before the chain (NULL hashes until the back-fill)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from eventstore.bootstrap import EventStore
from eventstore_support import append, collect, event, insert_raw_event, new_stream, open_channel
from fundledger.eventstore.v1 import eventstore_pb2 as pb
from fundledger.eventstore.v1 import eventstore_pb2_grpc
from fundledger.eventstore.v1.events_pb2 import RecordedEvent
from fundledger_kernel.chain import genesis, link
from fundledger_platform.chain_check import chain_event
from google.protobuf.timestamp_pb2 import Timestamp


def stamp(at: datetime) -> Timestamp:
    value = Timestamp()
    value.FromDatetime(at)
    return value


async def read(stub: Any, stream_id: str) -> list[RecordedEvent]:
    events: list[RecordedEvent] = await collect(
        stub.ReadStream(pb.ReadStreamRequest(stream_id=stream_id))
    )
    return events


def recompute(events: list[RecordedEvent]) -> list[bytes]:
    current = genesis(events[0].stream_id)
    hashes = []
    for e in events:
        current = link(current, chain_event(e))
        hashes.append(current)
    return hashes


async def test_sql_hash_equals_the_kernel_reference_for_every_shape_of_event(
    store: EventStore, stub: Any, put: Callable[..., Any]
) -> None:
    stream = new_stream()
    backdated = stamp(datetime(2025, 9, 30, 17, 0, 0, 123456, tzinfo=UTC))
    await stub.AppendToStream(append(stream, event()))  # every optional field unset
    await stub.AppendToStream(
        append(
            stream,
            event(
                "NOTE_ADDED",
                {"text": "Zürich — 東京 ✓", "z": 1, "a": [1.5, None, True]},
                metadata={"é": "ü", "b": "", "traceparent": "00-x-y-01", "a\u0001b": '\n\t"'},
                causation_id="cause-é",
                correlation_id="corr-1",
                source="tests",
                effective_at=backdated,
            ),
            event(data={}, effective_at=stamp(datetime(1969, 7, 20, 20, 17, 40, 5, tzinfo=UTC))),
        )
    )
    # A service acting for itself: actor set, no user.
    await put(stream, event(source="svc"))
    events = await read(stub, stream)
    assert [e.version for e in events] == [1, 2, 3, 4]
    assert events[3].actor
    assert not events[3].user_id
    assert all(len(e.hash) == 32 for e in events)
    assert [e.hash for e in events] == recompute(events)
    head = await store.pool.fetchrow(
        "SELECT last_hash, chain_version FROM eventstore.streams WHERE stream_id = $1", stream
    )
    assert (head["last_hash"], head["chain_version"]) == (events[-1].hash, 4)


async def test_appends_of_one_stream_in_one_group_chain_in_version_order(
    quiet_stub: Any,
) -> None:
    stream = new_stream()
    await quiet_stub.AppendToStream(append(stream, event()))
    # Concurrent appends with expected version ANY: the group commit puts several of them in
    # one statement, each chaining on the one before it.
    await asyncio.gather(
        *(quiet_stub.AppendToStream(append(stream, event(), event())) for _ in range(20))
    )
    events = await read(quiet_stub, stream)
    assert [e.version for e in events] == list(range(1, 42))
    assert [e.hash for e in events] == recompute(events)


async def test_a_stream_from_before_the_chain_gets_no_hash_until_back_filled(
    store_factory: Callable[..., Any],
) -> None:
    # Without the leader's back-fill, which would hash the older event meanwhile.
    store: EventStore = await store_factory(relay_enabled=False, chain_backfill_enabled=False)
    async with open_channel(store) as channel:
        await _unhashed_until_back_filled(store, eventstore_pb2_grpc.EventStoreServiceStub(channel))


async def _unhashed_until_back_filled(store: EventStore, stub: Any) -> None:
    stream = new_stream()
    async with store.pool.acquire() as conn:
        await insert_raw_event(conn, stream, 1)  # as written before migration 0009
    await stub.AppendToStream(append(stream, event()))
    events = await read(stub, stream)
    assert [e.hash for e in events] == [b"", b""]
    # A new stream next to it chains from its genesis.
    other = new_stream()
    await stub.AppendToStream(append(other, event(event_id=str(uuid.uuid4()))))
    (first,) = await read(stub, other)
    assert first.hash == link(genesis(other), chain_event(first))
    assert first.recorded_at.ToDatetime(tzinfo=UTC) > datetime.now(UTC) - timedelta(hours=1)
