"""VerifyStream and VerifyLog find what was done to the log directly in PostgreSQL — an UPDATE of
any column of an event, a DELETE in the middle, a deleted tail, a swapped pair — each at the
right version; a valid chain passes; the back-fill chains a log written before the chain while
appends go on. In whichever storage mode the test PostgreSQL gives."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import grpc
import pytest
from eventstore.adapters.chain_backfill import Backfill, backfill
from eventstore.bootstrap import EventStore
from eventstore_support import append, collect, event, insert_raw_event, new_stream
from fundledger.eventstore.v1 import eventstore_pb2 as pb
from fundledger.eventstore.v1.events_pb2 import RecordedEvent
from fundledger_kernel.chain import genesis, link
from fundledger_platform.chain_check import chain_event

EVENTS = 5


async def five(stub: Any) -> str:
    """A stream of five events, one append each (distinct commit times), every field set."""
    stream = new_stream()
    for n in range(EVENTS):
        await stub.AppendToStream(
            append(
                stream,
                event(
                    data={"n": n, "text": "Zürich"},
                    metadata={"k": "v"},
                    causation_id="c",
                    correlation_id="o",
                    source="s",
                ),
            )
        )
    return stream


async def verify(stub: Any, stream: str) -> pb.VerifyStreamResponse:
    response: pb.VerifyStreamResponse = await stub.VerifyStream(
        pb.VerifyStreamRequest(stream_id=stream)
    )
    return response


def found(response: pb.VerifyStreamResponse) -> tuple[int, str]:
    assert not response.ok
    problem = getattr(response, "break")
    return problem.version, problem.problem


async def sql(store: EventStore, statement: str, *args: Any) -> None:
    async with store.pool.acquire() as conn:
        await conn.execute(statement, *args)


async def test_a_valid_chain_passes(stub: Any) -> None:
    stream = await five(stub)
    response = await verify(stub, stream)
    assert response.ok, response
    assert (response.events_checked, response.events_unverified, response.version) == (5, 0, 5)
    events: list[RecordedEvent] = await collect(
        stub.ReadStream(pb.ReadStreamRequest(stream_id=stream))
    )
    assert response.head_hash == events[-1].hash.hex()


UPDATES = {
    "data": "data = jsonb_set(data, '{n}', '7')",
    "metadata": 'metadata = \'{"k": "w"}\'',
    "event_type": "event_type = 'OTHER'",
    "schema_version": "schema_version = 2",
    "event_id": "event_id = gen_random_uuid()",
    "position": "position = position + 1000000",
    "category": "category = 'other'",
    "causation_id": "causation_id = NULL",
    "correlation_id": "correlation_id = 'x'",
    "user_id": "user_id = 'mallory'",
    "source": "source = 's2'",
    "actor": "actor = 'svc'",
    "recorded_at": "recorded_at = recorded_at + interval '1 microsecond'",
    "effective_at": "effective_at = recorded_at - interval '1 day'",
    "hash": "hash = sha256(hash)",
}


@pytest.mark.parametrize("column", sorted(UPDATES))
async def test_an_update_of_any_column_is_found_at_its_version(
    store: EventStore, stub: Any, column: str
) -> None:
    stream = await five(stub)
    await sql(
        store,
        f"UPDATE eventstore.events SET {UPDATES[column]} WHERE stream_id = $1 AND version = 3",
        stream,
    )
    assert found(await verify(stub, stream)) == (3, "hash mismatch")


async def test_an_update_that_moves_an_event_out_of_the_readers_view_is_a_missing_version(
    store: EventStore, stub: Any
) -> None:
    # Another tenant, another stream: the event is no longer where it was.
    for change in ("tenant = 'acme'", "stream_id = stream_id || 'x'"):
        stream = await five(stub)
        await sql(
            store,
            f"UPDATE eventstore.events SET {change} WHERE stream_id = $1 AND version = 3",
            stream,
        )
        assert found(await verify(stub, stream)) == (3, "version missing"), change


async def test_a_delete_in_the_middle_and_a_deleted_tail(store: EventStore, stub: Any) -> None:
    middle = await five(stub)
    await sql(store, "DELETE FROM eventstore.events WHERE stream_id = $1 AND version = 2", middle)
    assert found(await verify(stub, middle)) == (2, "version missing")
    tail = await five(stub)
    await sql(store, "DELETE FROM eventstore.events WHERE stream_id = $1 AND version >= 4", tail)
    assert found(await verify(stub, tail)) == (5, "event missing at the head")
    # The head's version moved back with the tail: its last hash still names version 5.
    rewound = await five(stub)
    await sql(store, "DELETE FROM eventstore.events WHERE stream_id = $1 AND version = 5", rewound)
    await sql(store, "UPDATE eventstore.streams SET version = 4 WHERE stream_id = $1", rewound)
    assert found(await verify(stub, rewound)) == (5, "event missing at the head")
    # ... and its chain version too: the last hash is not version 4's.
    await sql(
        store, "UPDATE eventstore.streams SET chain_version = 4 WHERE stream_id = $1", rewound
    )
    assert found(await verify(stub, rewound)) == (4, "head hash mismatch")


async def test_a_swapped_pair_is_found_at_the_lower_version(store: EventStore, stub: Any) -> None:
    versions = await five(stub)
    await sql(
        store,
        "UPDATE eventstore.events SET version = 5 - version WHERE stream_id = $1 "
        "AND version IN (2, 3)",
        versions,
    )
    assert found(await verify(stub, versions)) == (2, "hash mismatch")
    payloads = await five(stub)
    await sql(
        store,
        "UPDATE eventstore.events e SET data = o.data FROM eventstore.events o "
        "WHERE e.stream_id = $1 AND o.stream_id = $1 AND e.version + o.version = 5 "
        "AND e.version IN (2, 3)",
        payloads,
    )
    assert found(await verify(stub, payloads)) == (2, "hash mismatch")


async def test_verify_log_streams_every_break_and_ends_done(store: EventStore, stub: Any) -> None:
    prefix = f"audit{uuid.uuid4().hex[:8]}"
    good, bad = await five(stub), await five(stub)
    streams = [f"{prefix}-{n}" for n in range(3)]
    for stream in streams:
        await stub.AppendToStream(append(stream, event(), event()))
    await sql(
        store,
        "UPDATE eventstore.events SET data = '{}' WHERE stream_id = $1 AND version = 2",
        streams[1],
    )
    reports = [r async for r in stub.VerifyLog(pb.VerifyLogRequest(from_stream_id=streams[0]))]
    last = reports[-1]
    assert last.done
    assert all(not r.done for r in reports[:-1])
    breaks = [(b.stream_id, b.version, b.problem) for r in reports for b in r.breaks]
    assert (streams[1], 2, "hash mismatch") in breaks
    assert all(b[0] != streams[0] and b[0] != streams[2] for b in breaks)
    assert last.streams_checked == last.streams_total >= 3
    assert last.events_checked >= 5
    assert (await verify(stub, good)).ok
    assert (await verify(stub, bad)).ok


async def test_bad_requests(stub: Any) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await verify(stub, "not a stream")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await verify(stub, new_stream())
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await collect_log(stub, "bad id")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def collect_log(stub: Any, start: str) -> list[pb.VerifyLogResponse]:
    return [r async for r in stub.VerifyLog(pb.VerifyLogRequest(from_stream_id=start))]


async def test_events_before_the_chain_are_unverified_until_the_back_fill(
    walked: tuple[EventStore, Any],
) -> None:
    store, stub = walked
    stream = new_stream()
    async with store.pool.acquire() as conn:
        for version in range(1, 8):
            await insert_raw_event(conn, stream, version)
    await stub.AppendToStream(append(stream, event()))  # after them: no hash either
    before = await verify(stub, stream)
    assert before.ok
    assert (before.events_checked, before.events_unverified) == (8, 8)
    await backfill(store.pool, batch=3)
    after = await verify(stub, stream)
    assert after.ok
    assert (after.events_checked, after.events_unverified) == (8, 0)
    # From then on, appends chain in SQL on the back-filled head.
    await stub.AppendToStream(append(stream, event()))
    events: list[RecordedEvent] = await collect(
        stub.ReadStream(pb.ReadStreamRequest(stream_id=stream))
    )
    current = genesis(stream)
    for e in events:
        current = link(current, chain_event(e))
        assert e.hash == current
    assert (await verify(stub, stream)).events_unverified == 0


async def test_the_back_fill_runs_while_appends_go_on(walked: tuple[EventStore, Any]) -> None:
    store, quiet_stub = walked
    streams = [new_stream() for _ in range(3)]
    async with store.pool.acquire() as conn:
        for stream in streams:
            for version in range(1, 31):
                await insert_raw_event(conn, stream, version)
    stop = asyncio.Event()

    async def appends() -> int:
        done = 0
        for n in range(200):  # bounded
            if stop.is_set() and n >= 10:
                break
            await quiet_stub.AppendToStream(append(streams[n % 3], event(), event()))
            done += 1
        return done

    writer = asyncio.create_task(appends())
    for _ in range(20):  # passes until every stream is caught up (appends may outrun one)
        await backfill(store.pool, batch=7)
        heads = await store.pool.fetch(
            "SELECT version, chain_version FROM eventstore.streams WHERE stream_id = ANY($1)",
            streams,
        )
        if all(h["version"] == h["chain_version"] for h in heads):
            break
    stop.set()
    await writer
    await backfill(store.pool, batch=7)
    for stream in streams:
        response = await verify(quiet_stub, stream)
        assert response.ok, response
        assert response.events_unverified == 0
        assert response.events_checked == response.version >= 30


async def test_concurrent_appends_keep_a_valid_chain(quiet_stub: Any) -> None:
    stream = new_stream()
    await quiet_stub.AppendToStream(append(stream, event()))
    await asyncio.gather(
        *(quiet_stub.AppendToStream(append(stream, event(), event())) for _ in range(30))
    )
    response = await verify(quiet_stub, stream)
    assert response.ok
    assert response.events_checked == 61 == response.version


async def test_access_and_tenancy(stub: Any, as_caller: Any) -> None:
    fund, note = await five(stub), new_stream("note")
    await stub.AppendToStream(append(note, event()))
    viewer = as_caller("vera", roles=("fund-viewer",))
    assert (await verify(viewer, fund)).ok
    for call in (verify(viewer, note), collect_log(viewer, "")):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    # Another tenant's admin: the stream does not exist for them, nor in their log.
    other = as_caller("olga", tenant="acme")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await verify(other, fund)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    reports = await collect_log(other, fund)
    assert reports[-1].done
    assert reports[-1].streams_total == reports[-1].streams_checked == 0  # a fresh database
    mine = await collect_log(stub, fund)
    assert mine[-1].streams_checked >= 1


async def test_the_back_fill_stops_at_a_gap_and_resumes_from_its_checkpoint(
    walked: tuple[EventStore, Any],
) -> None:
    store, stub = walked
    gap, whole = new_stream(), new_stream()
    async with store.pool.acquire() as conn:
        for version in (1, 2, 4, 5):  # version 3 never written (or deleted before the chain)
            await insert_raw_event(conn, gap, version)
        for version in range(1, 5):
            await insert_raw_event(conn, whole, version)
    first = Backfill(store.pool, batch=3)
    assert await first.step() == (2, True)  # gap 1, 2 and 4 (not hashed: no version 3)
    # Another walk (a new leader) goes on from the checkpoint, its memory empty.
    assert await Backfill(store.pool, batch=3).run() == 4  # gap 5 left alone, whole 1-4
    hashed = await store.pool.fetch(
        "SELECT stream_id, version FROM eventstore.events WHERE hash IS NOT NULL "
        "AND stream_id = ANY($1) ORDER BY stream_id, version",
        [gap, whole],
    )
    assert sorted((r["stream_id"], r["version"]) for r in hashed) == sorted(
        [(gap, 1), (gap, 2), (whole, 1), (whole, 2), (whole, 3), (whole, 4)]
    )
    assert (await verify(stub, whole)).ok
    assert found(await verify(stub, gap)) == (3, "version missing")
