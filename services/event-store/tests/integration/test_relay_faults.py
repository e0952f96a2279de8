"""The relay under faults: a crash between publish and checkpoint, a bus that dies
(and comes back, or comes back empty), and leadership moving between two event
stores on one database (FM-14, docs/failure-modes.md). Each test reads the JetStream stream back and
checks every event is there exactly once, in position order. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import asyncpg
import pytest
from eventstore.adapters.group_write import write_group
from eventstore.adapters.partitions import NATIVE
from eventstore.adapters.relay import RELAY_LOCK_KEY
from eventstore.bootstrap import EventStore
from eventstore.domain.append_request import Limits, RawEvent, validate_append
from eventstore.domain.model import Expected, ExpectedKind
from eventstore_relay_support import (
    advisory_lock_holders,
    append_events,
    assert_exactly_once_in_order,
    bus_client,
    bus_overrides,
    checkpoint,
    log_head,
    open_stub,
    read_bus,
    store_factory_on,
    stream_message_count,
    wait_relay_caught_up,
    wait_until,
)
from eventstore_support import new_stream
from prometheus_client import REGISTRY

StoreFactory = Callable[..., Awaitable[EventStore]]


@pytest.fixture
async def fresh_bus_store_factory(
    fresh_dsn: str, fresh_nats: Any
) -> AsyncIterator[Callable[..., Awaitable[EventStore]]]:
    """Event stores on the test's own NATS server (`fresh_nats`), which it may kill."""
    async with store_factory_on(fresh_dsn, fresh_nats.url) as start:
        yield start


def _published_total() -> float:
    return REGISTRY.get_sample_value("fundledger_eventstore_relay_published_total") or 0.0


async def _append_rounds(store: EventStore, rounds: int, streams: int, per_append: int) -> None:
    async with open_stub(store) as stub:
        for _ in range(rounds):
            await append_events(stub, [new_stream() for _ in range(streams)], per_append)


async def _assert_bus_exactly_once(url: str, bus: dict[str, Any], head: int) -> None:
    async with bus_client(url) as js:
        assert await stream_message_count(js, bus["bus_stream"]) == head
        messages = await read_bus(js, bus["bus_stream"], bus["bus_subject_prefix"])
    assert_exactly_once_in_order(messages, head, bus["bus_subject_prefix"])


async def test_crash_between_publish_and_checkpoint_republishes_without_duplicates(
    store_factory: StoreFactory, fresh_dsn: str, nats_server: Any
) -> None:
    """The relay published a batch, then "died" before writing its checkpoint (the
    checkpoint is put back to 0). The next relay publishes everything again and
    JetStream keeps one copy of each event, by Nats-Msg-Id."""
    bus = bus_overrides()
    first = await store_factory(**bus)
    await _append_rounds(first, rounds=4, streams=3, per_append=5)
    conn = await asyncpg.connect(fresh_dsn)
    try:
        published = await wait_relay_caught_up(conn)
        assert published == 60
        await first.server.stop(1.0)
        await conn.execute("UPDATE eventstore.relay_checkpoints SET position = 0")

        before = _published_total()
        second = await store_factory(**bus)
        assert await wait_relay_caught_up(conn, expected=published) == published
        # The new relay really went through the log again (not just skipped it).
        assert _published_total() - before >= published
        await _append_rounds(second, rounds=2, streams=2, per_append=5)
        head = await wait_relay_caught_up(conn)
        assert head == await log_head(conn) == 80
    finally:
        await conn.close()
    await _assert_bus_exactly_once(nats_server.url, bus, head)


async def test_bus_killed_while_appends_continue_every_event_arrives_once(
    fresh_nats: Any, fresh_bus_store_factory: StoreFactory, fresh_dsn: str
) -> None:
    """NATS is SIGKILLed; appends go on (PostgreSQL is the source of truth) and the
    checkpoint stays put; NATS restarts on its file store and the relay catches up:
    every event exactly once, in position order."""
    bus = bus_overrides()
    store = await fresh_bus_store_factory(**bus)
    conn = await asyncpg.connect(fresh_dsn)
    try:
        await _append_rounds(store, rounds=2, streams=2, per_append=5)
        assert await wait_relay_caught_up(conn) == 20

        fresh_nats.kill()
        await _append_rounds(store, rounds=3, streams=2, per_append=5)
        assert await log_head(conn) == 50
        await asyncio.sleep(0.5)  # the relay tries (and fails) to publish meanwhile
        assert await checkpoint(conn) == 20, "checkpoint moved without a JetStream ack"

        await asyncio.to_thread(fresh_nats.restart)
        await _append_rounds(store, rounds=1, streams=2, per_append=5)
        head = await wait_relay_caught_up(conn, expected=60, within=30.0)
    finally:
        await conn.close()
    await _assert_bus_exactly_once(fresh_nats.url, bus, head)


async def _single_leader(stores: list[EventStore], conn: asyncpg.Connection) -> EventStore:
    """Waits until exactly one relay says it leads and one backend holds the lock."""
    found: list[EventStore] = []

    async def one_leader() -> bool:
        leaders = [s for s in stores if s.relay.is_leader]
        holders = await advisory_lock_holders(conn, RELAY_LOCK_KEY)
        found[:] = leaders
        return len(leaders) == 1 and len(holders) == 1

    await wait_until(one_leader, "exactly one relay leader")
    return found[0]


async def _pool_pids(conn: asyncpg.Connection) -> set[int]:
    rows = await conn.fetch(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
        "AND application_name = 'event-store'"
    )
    return {int(r["pid"]) for r in rows}


async def test_leader_connection_terminated_leadership_moves_and_nothing_is_lost(
    store_factory: StoreFactory, fresh_dsn: str, nats_server: Any
) -> None:
    """FM-14: two stores (pools of several connections) on one database; exactly
    one relay leads, on a connection outside the pool. Its backend is terminated from
    the database side: a relay leads again on another backend, and events appended
    before and after are each published once."""
    bus = bus_overrides()
    stores = [await store_factory(db_pool_min=3, **bus) for _ in range(2)]
    conn = await asyncpg.connect(fresh_dsn)
    try:
        leader = await _single_leader(stores, conn)
        [holder] = await advisory_lock_holders(conn, RELAY_LOCK_KEY)
        pool_pids = await _pool_pids(conn)
        assert len(pool_pids) >= 6
        assert holder not in pool_pids, "the relay lock is held by a pooled connection"
        for store in stores:
            await _append_rounds(store, rounds=2, streams=2, per_append=3)
        assert await wait_relay_caught_up(conn) == 24
        # Pooled connections never picked the lock up along the way.
        assert await advisory_lock_holders(conn, RELAY_LOCK_KEY) == [holder]

        assert await conn.fetchval("SELECT pg_terminate_backend($1)", holder)

        async def new_holder() -> bool:
            holders = await advisory_lock_holders(conn, RELAY_LOCK_KEY)
            return len(holders) == 1 and holders[0] != holder

        await wait_until(new_holder, "another backend to take the relay lock")
        leader = await _single_leader(stores, conn)
        [now_holder] = await advisory_lock_holders(conn, RELAY_LOCK_KEY)
        assert now_holder not in await _pool_pids(conn)
        for store in stores:
            await _append_rounds(store, rounds=2, streams=2, per_append=3)
        head = await wait_relay_caught_up(conn)
        assert head == 48
        assert leader.relay.is_leader
    finally:
        await conn.close()
    await _assert_bus_exactly_once(nats_server.url, bus, head)


async def test_leader_store_stopped_follower_takes_over(
    store_factory: StoreFactory, fresh_dsn: str, nats_server: Any
) -> None:
    """FM-14: the leading store goes away; the follower's relay becomes leader
    within a bounded wait and publishes what is appended afterwards, exactly once."""
    bus = bus_overrides()
    stores = [await store_factory(db_pool_min=3, **bus) for _ in range(2)]
    conn = await asyncpg.connect(fresh_dsn)
    try:
        leader = await _single_leader(stores, conn)
        follower = next(s for s in stores if s is not leader)
        assert not follower.relay.is_leader
        await _append_rounds(leader, rounds=2, streams=2, per_append=3)
        assert await wait_relay_caught_up(conn) == 12

        await leader.server.stop(1.0)

        async def follower_leads() -> bool:
            return follower.relay.is_leader

        await wait_until(follower_leads, "the follower's relay to become leader")
        assert await _single_leader([follower], conn) is follower
        await _append_rounds(follower, rounds=3, streams=2, per_append=3)
        head = await wait_relay_caught_up(conn)
        assert head == 30
    finally:
        await conn.close()
    await _assert_bus_exactly_once(nats_server.url, bus, head)


async def test_bus_outage_with_full_publish_buffer_keeps_position_order(
    fresh_nats: Any, fresh_bus_store_factory: StoreFactory, fresh_dsn: str
) -> None:
    """While NATS is down the client buffers publishes (2 MB). Events of mixed sizes:
    once a large one no longer fits, smaller later ones still do; none of them may be
    stored ahead of an earlier position when the bus comes back."""
    bus = bus_overrides()
    store = await fresh_bus_store_factory(**bus)
    conn = await asyncpg.connect(fresh_dsn)
    try:
        await _append_rounds(store, rounds=1, streams=2, per_append=5)
        assert await wait_relay_caught_up(conn) == 10

        fresh_nats.kill()
        # One transaction, so the relay's next batch (100 rows) sees them all at once.
        big = RawEvent(str(uuid.uuid4()), "NOTE_ADDED", 1, json.dumps({"b": "x" * 50_000}).encode())
        commands = [
            validate_append(
                new_stream(),
                Expected(ExpectedKind.ANY),
                [
                    replace(big, event_id=str(uuid.uuid4()))
                    if i % 2 == 0
                    else RawEvent(str(uuid.uuid4()), "NOTE_ADDED", 1, b'{"small": true}')
                    for i in range(4)
                ],
                "",
                Limits(max_append_bytes=1 << 20),
            )
            for _ in range(30)
        ]
        async with conn.transaction():
            await write_group(conn, commands, rollup=store.mode == NATIVE)
        assert await log_head(conn) == 130
        await asyncio.sleep(1.0)  # the relay attempts its first batch meanwhile
        assert await checkpoint(conn) == 10

        await asyncio.to_thread(fresh_nats.restart)
        head = await wait_relay_caught_up(conn, expected=130, within=30.0)
    finally:
        await conn.close()
    await _assert_bus_exactly_once(fresh_nats.url, bus, head)


async def test_bus_restarted_empty_relay_publishes_new_events(
    fresh_nats: Any, fresh_bus_store_factory: StoreFactory, fresh_dsn: str
) -> None:
    """The bus comes back without its store (FM-13: acknowledged but not durable).
    What it lost, consumers read from the log; but events appended from then on must
    reach the bus again, each once and in order, without restarting the event store."""
    bus = bus_overrides()
    store = await fresh_bus_store_factory(**bus)
    conn = await asyncpg.connect(fresh_dsn)
    try:
        await _append_rounds(store, rounds=1, streams=2, per_append=5)
        assert await wait_relay_caught_up(conn) == 10

        await asyncio.to_thread(fresh_nats.wipe_store)
        await _append_rounds(store, rounds=2, streams=2, per_append=5)
        head = await wait_relay_caught_up(conn, expected=30)
    finally:
        await conn.close()
    async with bus_client(fresh_nats.url) as js:
        messages = await read_bus(js, bus["bus_stream"], bus["bus_subject_prefix"])
    after = [m.event.position for m in messages if m.event.position > 10]
    assert after == list(range(11, head + 1))
