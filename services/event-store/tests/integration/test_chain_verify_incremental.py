"""An incremental VerifyLog (``from_position``): only the streams with an event after the
position, each verified whole; the edit of an old event in a stream appended to since is found,
one in a stream left alone is not (a full run finds both). Every report names the log's last
position at the start, the next run's ``from_position``. In whichever storage mode the test
PostgreSQL gives."""

from __future__ import annotations

import uuid
from typing import Any

import grpc
import pytest
from eventstore.bootstrap import EventStore
from eventstore_support import append, event, reason_of
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
