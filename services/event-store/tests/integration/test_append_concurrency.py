"""Races for real: many concurrent appends, through one server and through two
servers on the same database (so the race is between transactions, not only
inside one group commit)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from typing import Any

import grpc
from eventstore.adapters.group_write import write_group
from eventstore.bootstrap import EventStore
from eventstore.domain.append_request import Limits, RawEvent, validate_append
from eventstore.domain.model import Expected, ExpectedKind
from eventstore_storage_support import rollup_like_service
from eventstore_support import (
    TEST_IDENTITY,
    append,
    event,
    new_stream,
    open_channel,
    read_versions,
    reason_of,
)
from fundledger.eventstore.v1 import eventstore_pb2 as pb
from fundledger.eventstore.v1 import eventstore_pb2_grpc


async def two_stubs(
    store_factory: Callable[..., Any],
) -> tuple[list[Any], list[grpc.aio.Channel], EventStore]:
    stores = [await store_factory(relay_enabled=False), await store_factory(relay_enabled=False)]
    channels = [open_channel(s) for s in stores]
    return [eventstore_pb2_grpc.EventStoreServiceStub(c) for c in channels], channels, stores[0]


async def outcomes(calls: list[Any]) -> tuple[list[Any], list[grpc.aio.AioRpcError]]:
    results = await asyncio.gather(*calls, return_exceptions=True)
    ok = [r for r in results if not isinstance(r, BaseException)]
    errors = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(ok) + len(errors) == len(results), results
    return ok, errors


async def test_concurrent_any_appends_lose_nothing(store_factory: Callable[..., Any]) -> None:
    """FM-3: 20 concurrent appends with ANY → exactly 20 events, versions 1..20."""
    stubs, channels, _store = await two_stubs(store_factory)
    s = new_stream()
    ok, errors = await outcomes(
        [stubs[i % 2].AppendToStream(append(s, event(data={"i": i}))) for i in range(20)]
    )
    assert not errors
    assert sorted(r.first_version for r in ok) == list(range(1, 21))
    assert await read_versions(stubs[0], s) == list(range(1, 21))
    for c in channels:
        await c.close()


async def test_concurrent_exact_appends_one_wins(store_factory: Callable[..., Any]) -> None:
    """FM-4: 50 concurrent appends expecting the same version → one wins."""
    stubs, channels, store = await two_stubs(store_factory)
    s = new_stream()
    await stubs[0].AppendToStream(append(s, event(), event(), event()))
    ok, errors = await outcomes(
        [
            stubs[i % 2].AppendToStream(append(s, event(), event(), expected_version=3))
            for i in range(50)
        ]
    )
    assert len(ok) == 1
    assert len(errors) == 49
    assert {e.code() for e in errors} == {grpc.StatusCode.ABORTED}
    assert {reason_of(e) for e in errors} == {"WRONG_EXPECTED_VERSION"}
    assert await read_versions(stubs[0], s) == [1, 2, 3, 4, 5]
    rows = await store.pool.fetch(
        "SELECT version, count(*) AS n FROM eventstore.events WHERE stream_id = $1 "
        "GROUP BY version ORDER BY version",
        s,
    )
    assert [(r["version"], r["n"]) for r in rows] == [(v, 1) for v in range(1, 6)]
    for c in channels:
        await c.close()


async def test_concurrent_no_stream_creates_once(store_factory: Callable[..., Any]) -> None:
    stubs, channels, _ = await two_stubs(store_factory)
    s = new_stream()
    ok, errors = await outcomes(
        [
            stubs[i % 2].AppendToStream(
                append(s, event(), expected_state=pb.STREAM_STATE_NO_STREAM)
            )
            for i in range(20)
        ]
    )
    assert len(ok) == 1
    assert len(errors) == 19
    assert await read_versions(stubs[0], s) == [1]
    for c in channels:
        await c.close()


async def test_concurrent_identical_idempotent_requests_append_once(
    store_factory: Callable[..., Any],
) -> None:
    """FM-5: the same request fired concurrently → one append, one result."""
    stubs, channels, _store = await two_stubs(store_factory)
    s = new_stream()
    request = append(s, event(data={"a": 1}), event(data={"b": 2}), idempotency_key="k-1")
    ok, errors = await outcomes([stubs[i % 2].AppendToStream(request) for i in range(10)])
    assert not errors
    firsts = {(r.first_version, r.last_version, r.first_position, tuple(r.event_ids)) for r in ok}
    assert len(firsts) == 1
    assert sum(not r.replayed for r in ok) == 1
    assert await read_versions(stubs[0], s) == [1, 2]
    for c in channels:
        await c.close()


async def test_idempotent_retry_replays_and_key_reuse_fails(stub: Any, store: EventStore) -> None:
    s = new_stream()
    request = append(s, event(data={"a": 1, "b": [1, 2]}), idempotency_key="pay-7")
    first = await stub.AppendToStream(request)
    again = await stub.AppendToStream(request)
    assert again.replayed
    assert not first.replayed
    assert (again.first_position, list(again.event_ids)) == (
        first.first_position,
        list(first.event_ids),
    )
    # FM-6: the same payload with other key order and whitespace hashes the same.
    from fundledger.eventstore.v1 import events_pb2

    shuffled = events_pb2.EventData(event_type="NOTE_ADDED", data=b'{ "b" : [1,2],\n "a":1 }')
    assert (await stub.AppendToStream(append(s, shuffled, idempotency_key="pay-7"))).replayed
    with pytest_raises_code(grpc.StatusCode.FAILED_PRECONDITION) as caught:
        await stub.AppendToStream(append(s, event(data={"a": 2}), idempotency_key="pay-7"))
    assert reason_of(caught.value) == "IDEMPOTENCY_KEY_REUSED"
    assert await read_versions(stub, s) == [1]
    # The key is per stream: another stream may use it.
    assert not (
        await stub.AppendToStream(append(new_stream(), event(), idempotency_key="pay-7"))
    ).replayed


async def test_failed_idempotent_append_can_be_retried(stub: Any) -> None:
    s = new_stream()
    await stub.AppendToStream(append(s, event()))
    request = append(s, event(), expected_version=5, idempotency_key="retry-me")
    with pytest_raises_code(grpc.StatusCode.ABORTED):
        await stub.AppendToStream(request)
    fixed = append(s, event(), expected_version=1, idempotency_key="retry-me")
    assert not (await stub.AppendToStream(fixed)).replayed


async def test_reappending_same_event_ids_is_idempotent(stub: Any) -> None:
    s = new_stream()
    ids = [str(uuid.uuid4()) for _ in range(3)]
    batch = [event(event_id=i) for i in ids]
    first = await stub.AppendToStream(append(s, *batch, expected_version=0))
    again = await stub.AppendToStream(append(s, *batch, expected_version=0))
    assert again.replayed
    assert list(again.event_ids) == ids
    assert again.last_position == first.last_position
    also = await stub.AppendToStream(append(s, *batch))  # ANY
    assert also.replayed
    # At another expected version they are a conflict, not a replay.
    with pytest_raises_code(grpc.StatusCode.ABORTED):
        await stub.AppendToStream(append(s, *batch, expected_version=2))
    # An id already used in another stream is refused.
    with pytest_raises_code(grpc.StatusCode.FAILED_PRECONDITION) as caught:
        await stub.AppendToStream(append(new_stream(), event(event_id=ids[0])))
    assert reason_of(caught.value) == "EVENT_ID_EXISTS"
    assert await read_versions(stub, s) == [1, 2, 3]


async def test_recorded_at_never_decreases_with_version(
    store_factory: Callable[..., Any],
) -> None:
    """FM-9: a slow transaction must not stamp an earlier time on a later
    version. One append holds its transaction open while others to the same
    stream queue behind it. MODE-DEPENDENT: the held-open group write keeps the
    daily rollup as the service does in this storage mode (rollup_like_service)."""
    stubs, channels, store = await two_stubs(store_factory)
    s = new_stream()
    slow = validate_append(
        s,
        Expected(ExpectedKind.ANY),
        [RawEvent(event_id="", event_type="SLOW", schema_version=1, data=b"{}")],
        "",
        Limits(),
        # As the stubs' caller would, so they find the stream in their tenant.
        TEST_IDENTITY,
    )

    async def hold_open() -> None:
        async with store.pool.acquire() as conn, conn.transaction():
            await write_group(conn, [slow], rollup=rollup_like_service(store))
            await asyncio.sleep(0.5)

    holder = asyncio.create_task(hold_open())
    await asyncio.sleep(0.1)
    _ok, errors = await outcomes(
        [stubs[i % 2].AppendToStream(append(s, event(data={"i": i}))) for i in range(10)]
    )
    await holder
    assert not errors
    rows = await store.pool.fetch(
        "SELECT version, recorded_at FROM eventstore.events WHERE stream_id = $1 ORDER BY version",
        s,
    )
    assert [r["version"] for r in rows] == list(range(1, 12))
    times = [r["recorded_at"] for r in rows]
    assert times == sorted(times)
    positions = await store.pool.fetch(
        "SELECT position, recorded_at FROM eventstore.events ORDER BY position"
    )
    assert [p["recorded_at"] for p in positions] == sorted(p["recorded_at"] for p in positions)
    for c in channels:
        await c.close()


async def test_positions_are_gap_free_and_unique_under_load(
    store_factory: Callable[..., Any],
) -> None:
    stubs, channels, store = await two_stubs(store_factory)
    streams = [new_stream() for _ in range(8)]
    _ok, errors = await outcomes(
        [stubs[i % 2].AppendToStream(append(streams[i % 8], event(), event())) for i in range(80)]
    )
    assert not errors
    positions = [
        r["position"]
        for r in await store.pool.fetch("SELECT position FROM eventstore.events ORDER BY 1")
    ]
    assert positions == list(range(1, 161))
    counts = json.loads(
        await store.pool.fetchval(
            "SELECT json_object_agg(stream_id, version) FROM eventstore.streams"
        )
    )
    assert set(counts.values()) == {20}
    for c in channels:
        await c.close()


class pytest_raises_code:
    """`with pytest_raises_code(code) as caught:` — pytest.raises plus a code check."""

    def __init__(self, code: grpc.StatusCode) -> None:
        self.code = code
        self.value: grpc.aio.AioRpcError

    def __enter__(self) -> pytest_raises_code:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: Any
    ) -> bool:
        assert isinstance(value, grpc.aio.AioRpcError), f"expected {self.code}, got {value!r}"
        assert value.code() == self.code, value
        self.value = value
        return True
