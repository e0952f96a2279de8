"""The group commit's shape (eventstore.commit_group, adapters/group_write.py): what one group
writes, counted by PostgreSQL itself; the idempotency result it stores; its dedicated
connection; and the head stamps it keeps, under a real race between two servers."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
import grpc
import pytest
from eventstore.adapters.group_write import write_group
from eventstore.bootstrap import EventStore
from eventstore.domain.append_request import Limits, RawEvent, validate_append
from eventstore.domain.model import AppendCommand, AppendResult, Expected, ExpectedKind
from eventstore.service_layer.ports import GroupOutcome
from eventstore_storage_support import rollup_like_service
from eventstore_support import TEST_IDENTITY, append, event, new_stream, open_channel
from fundledger.eventstore.v1 import eventstore_pb2_grpc

from tests.support.secure import SecureEnv

COUNTED = ("streams", "log_head", "event_ids", "idempotency_keys")
ANY = Expected(ExpectedKind.ANY)


def command(
    stream_id: str,
    events: int = 1,
    *,
    expected: Expected = ANY,
    key: str = "",
    event_ids: Sequence[str] = (),
) -> AppendCommand:
    ids = list(event_ids) or ["" for _ in range(events)]
    return validate_append(
        stream_id,
        expected,
        [RawEvent(event_id=i, event_type="NOTE_ADDED", schema_version=1, data=b"{}") for i in ids],
        key,
        Limits(),
        TEST_IDENTITY,
    )


@pytest.fixture
async def conn(fresh_dsn: str, store: EventStore) -> AsyncIterator[asyncpg.Connection]:
    """A connection of the test's own on the migrated database (the store made it so)."""
    connection = await asyncpg.connect(fresh_dsn)
    yield connection
    await connection.close()


async def tuple_counts(conn: asyncpg.Connection) -> dict[str, tuple[int, int, int]]:
    """Per table: the rows this backend inserted, updated and deleted that its statistics
    have not flushed yet (they flush only between transactions)."""
    counts = {}
    for table in COUNTED:
        row = await conn.fetchrow(
            "SELECT pg_stat_get_xact_tuples_inserted(c) AS i, "
            "pg_stat_get_xact_tuples_updated(c) AS u, "
            "pg_stat_get_xact_tuples_deleted(c) AS d "
            "FROM to_regclass($1) AS c",
            f"eventstore.{table}",
        )
        assert row is not None
        counts[table] = (row["i"], row["u"], row["d"])
    return counts


async def counted_group(
    conn: asyncpg.Connection, store: EventStore, commands: Sequence[AppendCommand]
) -> tuple[GroupOutcome, dict[str, tuple[int, int, int]]]:
    """Writes one group in a transaction of our own and returns, per table, the rows it
    inserted, updated and deleted, as PostgreSQL counts them."""
    async with conn.transaction():
        before = await tuple_counts(conn)
        outcome = await write_group(conn, commands, rollup=rollup_like_service(store))
        after = await tuple_counts(conn)
    deltas = {
        t: (after[t][0] - before[t][0], after[t][1] - before[t][1], after[t][2] - before[t][2])
        for t in COUNTED
    }
    return outcome, deltas


async def test_an_append_moves_its_head_once(conn: asyncpg.Connection, store: EventStore) -> None:
    s = new_stream()
    outcome, counts = await counted_group(conn, store, [command(s)])
    assert isinstance(outcome.results[0], AppendResult)
    # A new stream: its head inserted (stamped in the same INSERT), one position update.
    assert counts["streams"] == (1, 0, 0)
    assert counts["log_head"] == (0, 1, 0)
    assert counts["event_ids"] == (1, 0, 0)

    outcome, counts = await counted_group(conn, store, [command(s, 3, key="k-1")])
    result = outcome.results[0]
    assert isinstance(result, AppendResult)
    assert (result.first_version, result.last_version) == (2, 4)
    # An existing stream: ONE update of its head row (version and recorded_at together); the
    # key is stored with its result in the insert that claims it.
    assert counts["streams"] == (0, 1, 0)
    assert counts["log_head"] == (0, 1, 0)
    assert counts["event_ids"] == (3, 0, 0)
    assert counts["idempotency_keys"] == (1, 0, 0)
    head = await conn.fetchrow(
        "SELECT version, first_recorded_at, last_recorded_at FROM eventstore.streams "
        "WHERE stream_id = $1",
        s,
    )
    assert head is not None
    assert head["version"] == 4
    assert head["last_recorded_at"] == result.recorded_at > head["first_recorded_at"]


async def test_a_group_moves_each_head_once_per_append(
    conn: asyncpg.Connection, store: EventStore
) -> None:
    a, b, c = new_stream(), new_stream(), new_stream()
    await counted_group(conn, store, [command(a), command(b)])
    group = [
        command(a),
        command(b, 2),
        command(a),
        command(c),
        command(b, expected=Expected(ExpectedKind.EXACT, 1)),
    ]
    outcome, counts = await counted_group(conn, store, group)
    results = [outcome.results[i] for i in range(len(group))]
    assert [type(r).__name__ for r in results] == ["AppendResult"] * 4 + ["Aborted"]
    # Four appends written: three to existing heads (a twice, b once) and one new stream (c);
    # the one with the wrong version wrote nothing.
    assert counts["streams"] == (1, 3, 0)
    assert counts["log_head"] == (0, 1, 0)
    assert counts["event_ids"] == (5, 0, 0)
    # Positions in one block after the first group's two, each append's events together.
    spans = sorted(
        (r.first_position, r.last_position) for r in results if isinstance(r, AppendResult)
    )
    assert [p for span in spans for p in range(span[0], span[1] + 1)] == [3, 4, 5, 6, 7]
    assert sorted(last - first + 1 for first, last in spans) == [1, 1, 1, 2]


async def test_a_failed_append_leaves_no_trace(conn: asyncpg.Connection, store: EventStore) -> None:
    s = new_stream()
    await counted_group(conn, store, [command(s)])
    taken = str(uuid.uuid4())
    await counted_group(conn, store, [command(new_stream(), event_ids=[taken])])
    before = await conn.fetchval("SELECT last_position FROM eventstore.log_head")
    wrong = command(s, expected=Expected(ExpectedKind.EXACT, 7), key="w")
    clash = command(s, 2, key="c", event_ids=[str(uuid.uuid4()), taken])
    outcome, counts = await counted_group(conn, store, [wrong, clash])
    assert [type(outcome.results[i]).__name__ for i in (0, 1)] == [
        "Aborted",
        "FailedPrecondition",
    ]
    # Each claimed its key and the clash one event id, and undid them; no head, no position.
    assert counts["idempotency_keys"] == (2, 0, 2)
    assert counts["event_ids"] == (1, 0, 1)
    assert counts["streams"] == (0, 0, 0)
    assert counts["log_head"] == (0, 0, 0)
    assert await conn.fetchval("SELECT last_position FROM eventstore.log_head") == before


async def test_stored_idempotency_result_is_the_results_json(
    conn: asyncpg.Connection, stub: Any
) -> None:
    s = new_stream()
    response = await stub.AppendToStream(append(s, event(), event(), idempotency_key="json"))
    stored = json.loads(
        await conn.fetchval(
            "SELECT result::text FROM eventstore.idempotency_keys WHERE stream_id = $1", s
        )
    )
    recorded_at = await conn.fetchval(
        "SELECT recorded_at FROM eventstore.events WHERE stream_id = $1 AND version = 1", s
    )
    expected = AppendResult(
        first_version=response.first_version,
        last_version=response.last_version,
        first_position=response.first_position,
        last_position=response.last_position,
        recorded_at=recorded_at,
        event_ids=tuple(response.event_ids),
    )
    assert stored == expected.to_json()
    assert AppendResult.from_json(stored) == expected


@pytest.mark.parametrize("zone", ["UTC", "Asia/Kolkata", "America/St_Johns"])
async def test_iso_utc_writes_what_python_isoformat_writes(
    conn: asyncpg.Connection, zone: str
) -> None:
    await conn.execute(f"SET TimeZone = '{zone}'")
    for moment in (
        datetime(2026, 12, 7, 8, 0, 0, tzinfo=UTC),
        datetime(2026, 12, 7, 23, 59, 59, 1, tzinfo=UTC),
        datetime(2027, 1, 1, 0, 0, 0, 123456, tzinfo=UTC),
    ):
        assert await conn.fetchval("SELECT eventstore.iso_utc($1)", moment) == moment.isoformat()


async def writer_backends(store: EventStore) -> list[int]:
    rows = await store.pool.fetch(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
        "AND query LIKE '%eventstore.commit_group(%' AND pid <> pg_backend_pid()"
    )
    return [r["pid"] for r in rows]


async def test_the_writer_keeps_one_connection_and_replaces_a_lost_one(
    store_factory: Callable[..., Any],
) -> None:
    store: EventStore = await store_factory(relay_enabled=False)
    async with open_channel(store) as channel:
        stub = eventstore_pb2_grpc.EventStoreServiceStub(channel)
        s = new_stream()
        for _ in range(5):
            await stub.AppendToStream(append(s, event()))
        [writer] = await writer_backends(store)  # every group on one connection
        assert await store.pool.fetchval("SELECT pg_terminate_backend($1)", writer)
        # The next group fails on the dead connection and is retried on a fresh one, once.
        response = await stub.AppendToStream(append(s, event()))
        assert response.first_version == 6
        [replacement] = await writer_backends(store)
        assert replacement != writer
        await stub.AppendToStream(append(s, event()))
        assert await writer_backends(store) == [replacement]
        assert [
            r["version"]
            for r in await store.pool.fetch(
                "SELECT version FROM eventstore.events WHERE stream_id = $1 ORDER BY 1", s
            )
        ] == list(range(1, 8))


async def test_concurrent_groups_of_two_servers_keep_positions_and_head_stamps(
    store_factory: Callable[..., Any],
) -> None:
    """Two servers race appends to shared streams (some expecting versions, some keyed): the
    log stays gap-free, recorded_at never decreases with position, and every head's version
    and first/last_recorded_at are exactly its events'."""
    stores = [await store_factory(relay_enabled=False) for _ in range(2)]
    channels = [open_channel(s) for s in stores]
    stubs = [eventstore_pb2_grpc.EventStoreServiceStub(c) for c in channels]
    streams = [new_stream() for _ in range(6)]
    calls = []
    for i in range(120):
        fields: dict[str, Any] = {}
        if i % 7 == 0:
            fields["expected_version"] = 1
        if i % 3 == 0:
            fields["idempotency_key"] = f"k-{i % 12}"
        request = append(streams[i % 6], event(data={"i": i % 12}), **fields)
        calls.append(stubs[i % 2].AppendToStream(request))
    await asyncio.gather(*calls, return_exceptions=True)
    pool = stores[0].pool
    rows = await pool.fetch("SELECT position, recorded_at FROM eventstore.events ORDER BY position")
    assert [r["position"] for r in rows] == list(range(1, len(rows) + 1))
    times = [r["recorded_at"] for r in rows]
    assert times == sorted(times)
    heads = await pool.fetch(
        "SELECT s.stream_id, s.version, s.first_recorded_at, s.last_recorded_at, "
        "count(e.*) AS n, max(e.version) AS top, min(e.recorded_at) AS first_at, "
        "max(e.recorded_at) AS last_at "
        "FROM eventstore.streams s JOIN eventstore.events e USING (stream_id) "
        "GROUP BY 1, 2, 3, 4"
    )
    assert len(heads) == 6
    for h in heads:
        assert h["version"] == h["n"] == h["top"]
        assert (h["first_recorded_at"], h["last_recorded_at"]) == (h["first_at"], h["last_at"])
    assert await pool.fetchval("SELECT last_position FROM eventstore.log_head") == len(rows)
    for c in channels:
        await c.close()


async def test_two_tenants_racing_for_one_stream_through_two_servers(
    store_factory: Callable[..., Any], secure_env: SecureEnv
) -> None:
    """Two tenants' people append to the same new stream at once, through two servers (some
    with idempotency keys): the first group to commit makes the stream its tenant's; every
    append of the other tenant is NOT_FOUND and writes nothing, and every event carries the
    owner's tenant."""
    stores = [await store_factory(relay_enabled=False) for _ in range(2)]
    tenants = ("acme", "globex")
    channels = [
        open_channel(store, secure_env.token(f"user-{tenant}", tenant=tenant))
        for store in stores
        for tenant in tenants
    ]
    stubs = [eventstore_pb2_grpc.EventStoreServiceStub(c) for c in channels]
    s = new_stream()
    calls = []
    for i in range(40):
        fields = {"idempotency_key": f"k-{i}"} if i % 3 == 0 else {}
        calls.append(stubs[i % 4].AppendToStream(append(s, event(data={"i": i}), **fields)))
    results = await asyncio.gather(*calls, return_exceptions=True)
    owner = await stores[0].pool.fetchval(
        "SELECT tenant FROM eventstore.streams WHERE stream_id = $1", s
    )
    assert owner in tenants
    for i, result in enumerate(results):
        tenant = tenants[i % 2]
        if tenant == owner:
            assert not isinstance(result, BaseException), result
        else:
            assert isinstance(result, grpc.aio.AioRpcError), result
            assert result.code() == grpc.StatusCode.NOT_FOUND
    written = await stores[0].pool.fetch(
        "SELECT version, tenant FROM eventstore.events WHERE stream_id = $1 ORDER BY version", s
    )
    assert [(r["version"], r["tenant"]) for r in written] == [(v, owner) for v in range(1, 21)]
    keys = await stores[0].pool.fetchval(
        "SELECT count(*) FROM eventstore.idempotency_keys WHERE stream_id = $1", s
    )
    assert keys == 7  # the owner's keyed appends only (of i = 0, 3, …, 39, 7 are each tenant's)
    for c in channels:
        await c.close()
