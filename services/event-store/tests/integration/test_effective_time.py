"""Business time on append and read (issue 12), in whichever storage mode the test PostgreSQL
gives: effective_at round-trips, unset reads as recorded_at (old rows too), the future horizon,
invalid Timestamps, idempotency, the bus; schema versions on append."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import grpc
import pytest
from eventstore.adapters.partitions import detect_mode
from eventstore.bootstrap import MIGRATIONS, EventStore, migrate
from eventstore_relay_support import bus_client, bus_overrides, read_bus, wait_bus_holds
from eventstore_support import (
    append,
    collect,
    event,
    insert_raw_event,
    new_stream,
    open_channel,
    reason_of,
)
from fundledger.eventstore.v1 import eventstore_pb2 as pb
from fundledger.eventstore.v1 import eventstore_pb2_grpc
from fundledger_platform.errors import bad_request
from fundledger_platform.migrations import load_migrations, migrate_up
from google.protobuf.timestamp_pb2 import Timestamp

from tests.support.waiting import wait_until

SEPT_30 = datetime(2025, 9, 30, 17, 0, 0, 123456, tzinfo=UTC)


def stamp(at: datetime) -> Timestamp:
    value = Timestamp()
    value.FromDatetime(at)
    return value


def at(value: Timestamp) -> datetime:
    return value.ToDatetime(tzinfo=UTC)


async def rows(store: EventStore, stream_id: str) -> list[asyncpg.Record]:
    return list(
        await store.pool.fetch(
            "SELECT version, effective_at, recorded_at FROM eventstore.events "
            "WHERE stream_id = $1 ORDER BY version",
            stream_id,
        )
    )


def field_of(err: grpc.aio.AioRpcError) -> str:
    violations = bad_request(err)
    assert violations is not None
    return str(violations.field_violations[0].field)


async def test_a_backdated_event_keeps_its_effective_time_and_unset_reads_as_recorded(
    stub: Any, store: EventStore
) -> None:
    s = new_stream()
    await stub.AppendToStream(append(s, event(effective_at=stamp(SEPT_30)), event()))
    read = await collect(stub.ReadStream(pb.ReadStreamRequest(stream_id=s)))
    assert [at(e.effective_at) for e in read[:1]] == [SEPT_30]
    assert read[1].HasField("effective_at")
    assert read[1].effective_at == read[1].recorded_at
    assert at(read[0].recorded_at) > SEPT_30  # recorded now, effective then
    # Stored as given: NULL for the unset one (it costs nothing), the time for the other.
    stored = await rows(store, s)
    assert [r["effective_at"] for r in stored] == [SEPT_30, None]
    # Every read path goes through the one conversion: ReadAll and one event per message.
    everything = await collect(stub.ReadAll(pb.ReadAllRequest(from_position=read[0].position)))
    mine = [e for e in everything if e.stream_id == s]
    assert [(at(e.effective_at), at(e.recorded_at)) for e in mine] == [
        (at(e.effective_at), at(e.recorded_at)) for e in read
    ]
    single = await collect(stub.ReadStream(pb.ReadStreamRequest(stream_id=s, one_per_message=True)))
    assert single == read


async def test_rows_written_before_the_migration_read_as_recorded_at(
    fresh_dsn: str, store_factory: Callable[..., Any]
) -> None:
    # The fixture migrated the database; take it back to 0006 (no effective_at), write there,
    # then migrate on (0007 adds the column without touching the row).
    await migrate(fresh_dsn, down_to=6)
    s = new_stream()
    conn = await asyncpg.connect(fresh_dsn)
    try:
        columns = await conn.fetchval(
            "SELECT count(*) FROM information_schema.columns "
            "WHERE table_schema = 'eventstore' AND table_name = 'events' "
            "AND column_name = 'effective_at'"
        )
        assert columns == 0
        await insert_raw_event(conn, s, 1)
        await migrate(fresh_dsn)
        assert await conn.fetchval(
            "SELECT effective_at IS NULL FROM eventstore.events WHERE stream_id = $1", s
        )
    finally:
        await conn.close()
    store: EventStore = await store_factory(relay_enabled=False)
    async with open_channel(store) as channel:
        stub = eventstore_pb2_grpc.EventStoreServiceStub(channel)
        [old] = await collect(stub.ReadStream(pb.ReadStreamRequest(stream_id=s)))
    assert old.HasField("effective_at")
    assert old.effective_at == old.recorded_at

    # The upkeep builds the index online and it ends valid (every partition or chunk).
    async def index_valid() -> bool:
        return bool(
            await store.pool.fetchval(
                "SELECT indisvalid FROM pg_index "
                "WHERE indexrelid = to_regclass('eventstore.events_stream_effective')"
            )
        )

    await wait_until(index_valid, "the effective-time index to be built")


async def test_migrating_up_from_0006_in_steps(fresh_dsn: str) -> None:
    """0007 then 0008 apply on a database that stopped at 0006 (as a running log would)."""
    conn = await asyncpg.connect(fresh_dsn)
    try:
        mode = await detect_mode(conn)
        everything = load_migrations(MIGRATIONS, variant=mode)
        assert await migrate_up(conn, "eventstore", [m for m in everything if m.version <= 6])
        assert await migrate_up(conn, "eventstore", everything) == len(everything) - 6
    finally:
        await conn.close()


async def test_a_future_effective_time_is_refused_naming_the_field(
    stub: Any, store: EventStore
) -> None:
    s = new_stream()
    future = datetime.now(UTC) + timedelta(hours=1)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.AppendToStream(
            append(
                s,
                event(effective_at=stamp(SEPT_30)),
                event(effective_at=stamp(future)),
                idempotency_key="k-future",
            )
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_of(caught.value) == "events[1].effective_at"
    assert reason_of(caught.value) == "EFFECTIVE_AT_IN_FUTURE"
    assert await rows(store, s) == []
    # Nothing written, its key included: the same key with a valid request appends.
    response = await stub.AppendToStream(
        append(s, event(effective_at=stamp(SEPT_30)), idempotency_key="k-future")
    )
    assert not response.replayed
    assert len(await rows(store, s)) == 1


async def test_the_horizon_allows_an_effective_time_within_it(
    store_factory: Callable[..., Any],
) -> None:
    store: EventStore = await store_factory(
        relay_enabled=False, effective_at_horizon_seconds=3600.0
    )
    s = new_stream()
    soon = datetime.now(UTC) + timedelta(minutes=10)
    async with open_channel(store) as channel:
        stub = eventstore_pb2_grpc.EventStoreServiceStub(channel)
        await stub.AppendToStream(append(s, event(effective_at=stamp(soon))))
        [read] = await collect(stub.ReadStream(pb.ReadStreamRequest(stream_id=s)))
        assert at(read.effective_at) == soon
        later = datetime.now(UTC) + timedelta(hours=2)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.AppendToStream(append(s, event(effective_at=stamp(later))))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_of(caught.value) == "events[0].effective_at"
    assert len(await rows(store, s)) == 1


@pytest.mark.parametrize(
    "value",
    [
        Timestamp(seconds=1_700_000_000, nanos=1_000_000_000),
        Timestamp(seconds=1_700_000_000, nanos=-1),
        Timestamp(seconds=253_402_300_800),  # 10000-01-01
        Timestamp(seconds=-62_135_596_801),  # before 0001-01-01
        # The driver's -infinity / infinity: stored as such, they would read back naive.
        Timestamp(seconds=-62_135_596_800),  # 0001-01-01T00:00:00Z
        Timestamp(seconds=-62_135_596_800, nanos=999),  # the same microsecond
        Timestamp(seconds=253_402_300_799, nanos=999_999_000),  # 9999-12-31T23:59:59.999999Z
    ],
)
async def test_an_invalid_timestamp_is_refused(
    stub: Any, store: EventStore, value: Timestamp
) -> None:
    s = new_stream()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.AppendToStream(append(s, event(), event(effective_at=value)))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_of(caught.value) == "events[1].effective_at"
    assert reason_of(caught.value) == "FIELD_MALFORMED"
    assert await rows(store, s) == []


async def test_a_retry_is_the_same_request_only_with_the_same_effective_time(
    stub: Any, store: EventStore
) -> None:
    s = new_stream()
    request = append(s, event(effective_at=stamp(SEPT_30)), idempotency_key="k1")
    first = await stub.AppendToStream(request)
    again = await stub.AppendToStream(request)
    assert again.replayed
    assert again.first_position == first.first_position
    other = append(s, event(effective_at=stamp(SEPT_30 + timedelta(days=1))), idempotency_key="k1")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.AppendToStream(other)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    unset = append(s, event(), idempotency_key="k1")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.AppendToStream(unset)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert len(await rows(store, s)) == 1


async def test_investment_made_v1_and_v2_are_accepted_v3_refused(
    stub: Any, store: EventStore
) -> None:
    s = new_stream()
    v1 = {"companyId": "c1", "amountCents": 500}
    v2 = {
        "companyId": "c2",
        "amountCents": 700,
        "instrument": "INSTRUMENT_SAFE",
        "shares": 10,
        "pricePerShareMicros": 70_000_000,
    }
    await stub.AppendToStream(
        append(
            s,
            event("INVESTMENT_MADE", v1, schema_version=1),
            event("INVESTMENT_MADE", v2, schema_version=2),
        )
    )
    # Stored as given: the v1 payload is not rewritten (readers upcast it).
    stored = await store.pool.fetch(
        "SELECT schema_version, data::text FROM eventstore.events WHERE stream_id = $1 "
        "ORDER BY version",
        s,
    )
    assert [r["schema_version"] for r in stored] == [1, 2]
    assert "instrument" not in json.loads(stored[0]["data"])
    # A v2 payload must name its instrument; a version the kernel does not know is refused.
    for data, version, field in [
        ({"companyId": "c3", "amountCents": 5}, 2, "events[0].data.instrument"),
        (v2, 3, "events[0].schema_version"),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.AppendToStream(
                append(s, event("INVESTMENT_MADE", data, schema_version=version))
            )
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field_of(caught.value) == field
    assert len(await rows(store, s)) == 2


async def test_the_bus_message_carries_the_effective_time(
    store_factory: Callable[..., Any], nats_server: Any
) -> None:
    names = bus_overrides()
    store: EventStore = await store_factory(**names)
    s = new_stream()
    async with open_channel(store) as channel:
        stub = eventstore_pb2_grpc.EventStoreServiceStub(channel)
        await stub.AppendToStream(append(s, event(effective_at=stamp(SEPT_30)), event()))
    async with bus_client(nats_server.url) as js:
        await wait_bus_holds(js, names["bus_stream"], 2)
        messages = await read_bus(js, names["bus_stream"], names["bus_subject_prefix"])
    backdated, unset = (m.event for m in messages)
    assert at(backdated.effective_at) == SEPT_30
    assert unset.HasField("effective_at")
    assert unset.effective_at == unset.recorded_at
