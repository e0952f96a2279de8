"""An incremental VerifyLog (``from_position``): only the streams with an event after the
position, each verified whole; the edit of an old event in a stream appended to since is found,
one in a stream left alone is not (a full run finds both). Every report names the log's last
position at the start, the next run's ``from_position``. In whichever storage mode the test
PostgreSQL gives."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from eventstore.adapters.chain_backfill import backfill
from eventstore.adapters.chain_reader import ChainReader
from eventstore.adapters.partitions import NATIVE, detect_mode
from eventstore.adapters.reader import Reader
from eventstore.bootstrap import EventStore
from eventstore_support import append, event, insert_raw_event, reason_of
from fundledger.eventstore.v1 import eventstore_pb2 as pb
from fundledger_platform.errors import bad_request

Break = tuple[str, int, str]


async def run(stub: Any, **request: Any) -> tuple[pb.VerifyLogResponse, list[Break]]:
    """The final report of a VerifyLog and every break of the run."""
    reports = [r async for r in stub.VerifyLog(pb.VerifyLogRequest(**request))]
    assert reports[-1].done
    assert all(not r.done for r in reports[:-1])
    assert len({r.through_position for r in reports}) == 1
    breaks = [(b.stream_id, b.version, b.problem) for r in reports for b in r.breaks]
    return reports[-1], breaks


async def head(store: EventStore) -> int:
    return int(await store.pool.fetchval("SELECT last_position FROM eventstore.log_head"))


async def tamper(store: EventStore, stream: str, version: int) -> None:
    await store.pool.execute(
        "UPDATE eventstore.events SET data = '{\"n\": 99}' WHERE stream_id = $1 AND version = $2",
        stream,
        version,
    )


@pytest.fixture
async def changed(store: EventStore, stub: Any) -> tuple[list[str], int]:
    """Streams a < b < c of three events each; P, the log's head after them; one more event on
    b and c; then an old event of a and of b edited in PostgreSQL. Returns ([a, b, c], P)."""
    prefix = f"fund-{uuid.uuid4().hex[:8]}"
    a, b, c = (f"{prefix}-{name}" for name in "abc")
    for stream in (a, b, c):
        await stub.AppendToStream(append(stream, event(), event(), event()))
    position = await head(store)
    for stream in (b, c):
        await stub.AppendToStream(append(stream, event()))
    await tamper(store, a, 2)
    await tamper(store, b, 2)
    return [a, b, c], position


async def test_only_streams_changed_since_the_position_are_verified_whole(
    store: EventStore, stub: Any, changed: tuple[list[str], int]
) -> None:
    (a, b, c), position = changed
    last = await head(store)
    report, breaks = await run(stub, from_position=position)
    assert (report.streams_total, report.streams_checked) == (2, 2)
    assert breaks == [(b, 2, "hash mismatch")]  # from b's genesis, not from the position on
    assert report.events_checked == 1 + 4  # b up to its break, c whole
    assert (report.last_stream_id, report.through_position) == (c, last)
    # The full run sees a's edit too.
    full, breaks = await run(stub)
    assert (full.streams_total, full.streams_checked) == (3, 3)
    assert breaks == [(a, 2, "hash mismatch"), (b, 2, "hash mismatch")]
    assert full.through_position == last
    # The next incremental run, from the through position: nothing changed since.
    after, breaks = await run(stub, from_position=report.through_position)
    assert (after.streams_total, after.streams_checked, breaks) == (0, 0, [])
    await stub.AppendToStream(append(a, event()))
    after, breaks = await run(stub, from_position=report.through_position)
    assert (after.streams_total, breaks) == (1, [(a, 2, "hash mismatch")])
    assert after.through_position == last + 1


async def test_from_position_composes_with_from_stream_id(
    stub: Any, changed: tuple[list[str], int]
) -> None:
    (a, b, c), position = changed
    report, breaks = await run(stub, from_position=position, from_stream_id=c)
    assert (report.streams_total, report.streams_checked, breaks) == (1, 1, [])
    report, breaks = await run(stub, from_position=position, from_stream_id=a)
    assert (report.streams_total, report.last_stream_id) == (2, c)
    assert breaks == [(b, 2, "hash mismatch")]
    # Resumed after b (its last_stream_id): c alone.
    report, breaks = await run(stub, from_position=position, from_stream_id=f"{b}0")
    assert (report.streams_total, report.streams_checked, breaks) == (1, 1, [])


async def test_a_position_beyond_the_head_verifies_nothing(
    store: EventStore, stub: Any, changed: tuple[list[str], int]
) -> None:
    last = await head(store)
    report, breaks = await run(stub, from_position=last + 1000)
    assert (report.streams_total, report.streams_checked, report.events_checked) == (0, 0, 0)
    assert (breaks, report.through_position) == ([], last)


async def test_a_negative_position_is_a_field_violation(stub: Any) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await run(stub, from_position=-1)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert reason_of(err.value) == "FIELD_NEGATIVE"
    violations = bad_request(err.value)
    assert violations is not None
    [violation] = violations.field_violations
    assert violation.field == "from_position"


async def test_another_tenants_changes_are_not_in_the_run(
    stub: Any, as_caller: Any, changed: tuple[list[str], int]
) -> None:
    (_, b, _), position = changed
    other = as_caller("olga", tenant="acme")
    await other.AppendToStream(append(f"fund-{uuid.uuid4()}", event()))
    theirs, breaks = await run(other, from_position=position)
    assert (theirs.streams_total, theirs.streams_checked, breaks) == (1, 1, [])
    mine, breaks = await run(stub, from_position=position)
    assert (mine.streams_total, mine.streams_checked) == (2, 2)
    assert breaks == [(b, 2, "hash mismatch")]
    # Positions are the log's, not a tenant's: both see the same head.
    assert mine.through_position == theirs.through_position


async def test_an_incremental_run_reads_only_the_time_after_the_position(
    walked: tuple[EventStore, Any],
) -> None:
    # History over weeks (older chunks compressed in TimescaleDB, as the policy leaves them):
    # the run is bounded to the time of the position (adapters/chain_reader.py) and still finds
    # every stream changed since it, and only those.
    store, stub = walked
    prefix = f"fund-{uuid.uuid4().hex[:8]}"
    a, b, c = (f"{prefix}-{name}" for name in "abc")
    now = datetime.now(UTC)
    async with store.pool.acquire() as conn:
        for version, ago in enumerate((20, 19, 18), start=1):
            await insert_raw_event(conn, a, version, now - timedelta(days=ago))
        await insert_raw_event(conn, b, 1, now - timedelta(days=17))
        position = await head(store)
        await insert_raw_event(conn, b, 2, now - timedelta(days=3))
    await stub.AppendToStream(append(c, event()))  # now
    await backfill(store.pool)
    async with store.pool.acquire() as conn:
        if await detect_mode(conn) != NATIVE:
            await conn.fetchval(
                "SELECT count(compress_chunk(c, if_not_compressed => true)) FROM "
                "show_chunks('eventstore.events', older_than => interval '7 days') c"
            )
    await tamper(store, a, 2)

    bound = await ChainReader(store.pool, Reader(store.pool))._recorded_since(position)
    times = {
        r["position"]: r["recorded_at"]
        for r in await store.pool.fetch(
            "SELECT position, recorded_at FROM eventstore.events WHERE position IN ($1, $2)",
            position,
            position + 1,
        )
    }
    assert times[position] < bound <= times[position + 1]

    final, breaks = await run(stub, from_position=position)
    assert (final.streams_total, final.streams_checked) == (2, 2)  # b and c
    assert breaks == []
    _, everything = await run(stub)
    assert [found for found in everything if found[0].startswith(prefix)] == [
        (a, 2, "hash mismatch")
    ]
