"""The relay (outbox → JetStream): what actually lands on the bus, read back from the
stream with a consumer. Real PostgreSQL and NATS; every wait is bounded.

Failure modes covered here (docs/failure-modes.md): FM-1 (late commit), FM-2 (horizon
stall observability), FM-12 (relay side: duplicate window, monotonic checkpoints), FM-15
(LISTEN/NOTIFY is only a wake-up). Killing servers and leadership are in test_relay_faults.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import grpc
from eventstore import bootstrap
from eventstore.adapters.group_write import write_group
from eventstore.adapters.partitions import NATIVE
from eventstore.bootstrap import EventStore
from eventstore.domain.append_request import Limits, RawEvent, validate_append
from eventstore.domain.model import AppendResult, Expected, ExpectedKind
from eventstore.metrics import OLDEST_TRANSACTION_SECONDS
from eventstore_relay_support import (
    append_events,
    assert_exactly_once_in_order,
    bus_client,
    bus_overrides,
    checkpoint,
    listening_backends,
    log_head,
    open_stub,
    read_bus,
    stream_message_count,
    subject_of,
    wait_relay_caught_up,
    wait_until,
)
from eventstore_support import (
    TEST_IDENTITY,
    append,
    collect,
    event,
    new_stream,
    subscribed_events,
)
from fundledger.eventstore.v1 import events_pb2
from fundledger.eventstore.v1 import eventstore_pb2 as pb
from fundledger_platform.db import IDLE_IN_TRANSACTION_TIMEOUT_MS
from nats.js.api import StorageType
from prometheus_client import REGISTRY

StoreFactory = Callable[..., Awaitable[EventStore]]

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"


async def _next_message(
    call: grpc.aio.UnaryStreamCall[pb.SubscribeRequest, pb.SubscribeResponse],
) -> pb.SubscribeResponse:
    """The subscription's next message, within 10 s; fails if the stream ended."""
    msg = await asyncio.wait_for(call.read(), 10)
    assert isinstance(msg, pb.SubscribeResponse), "Subscribe ended"
    return msg


def _traceparent(trace_id: str = TRACE_ID) -> str:
    return f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"


async def test_every_event_is_published_once_in_position_order_with_its_headers(
    store_factory: StoreFactory, fresh_dsn: str, nats_server: Any
) -> None:
    bus = bus_overrides()
    store = await store_factory(**bus)
    prefix = bus["bus_subject_prefix"]
    streams = [new_stream("fund") for _ in range(4)] + [
        new_stream("note"),
        f"doc-{uuid.uuid4().hex}.v1",  # a '.' in the id must not split the subject
    ]
    tp_in_metadata = _traceparent()
    grpc_trace_id = uuid.uuid4().hex
    async with open_stub(store) as stub:
        appended: list[str] = []
        # 6 streams x 7 rounds x 6 events = 252 events: more than two relay batches (100).
        for _ in range(7):
            appended += await append_events(stub, streams, per_append=6)
        traced = await stub.AppendToStream(
            append(streams[0], event(metadata={"traceparent": tp_in_metadata}))
        )
        # Trace context carried by the gRPC call itself (W3C header in call metadata).
        via_call = await stub.AppendToStream(
            append(streams[1], event()),
            metadata=(("traceparent", _traceparent(grpc_trace_id)),),
        )
        appended += [*traced.event_ids, *via_call.event_ids]
        stored = await collect(stub.ReadAll(pb.ReadAllRequest(from_position=0)))

    conn = await asyncpg.connect(fresh_dsn)
    try:
        head = await wait_relay_caught_up(conn)
    finally:
        await conn.close()
    assert head == len(appended) == len(stored)
    async with bus_client(nats_server.url) as js:
        assert await stream_message_count(js, bus["bus_stream"]) == head
        messages = await read_bus(js, bus["bus_stream"], prefix)

    assert_exactly_once_in_order(messages, head, prefix)
    assert {m.event.event_id for m in messages} == set(appended)
    # The body is the RecordedEvent exactly as the log holds it.
    assert [m.event for m in messages] == stored
    dotted = [m for m in messages if m.event.stream_id == streams[-1]]
    assert dotted
    assert all(m.subject == subject_of(prefix, m.event) for m in dotted)
    assert all(len(m.subject.split(".")) == len(prefix.split(".")) + 2 for m in messages)

    by_id = {m.event.event_id: m for m in messages}
    assert by_id[traced.event_ids[0]].headers.get("traceparent") == tp_in_metadata
    call_header = by_id[via_call.event_ids[0]].headers.get("traceparent")
    assert call_header is not None, "an append under a caller's trace must carry traceparent"
    assert call_header.split("-")[1] == grpc_trace_id


async def test_late_commit_is_published_before_later_positions(
    store_factory: StoreFactory, fresh_dsn: str, nats_server: Any
) -> None:
    """FM-1: A takes its position and stays open; B (another stream, through the
    API) must wait for A's commit, get a higher position, and be published after A."""
    bus = bus_overrides()
    store = await store_factory(**bus)
    stream_a, stream_b = new_stream(), new_stream()
    cmd_a = validate_append(
        stream_a,
        Expected(ExpectedKind.ANY),
        [
            RawEvent(
                event_id=str(uuid.uuid4()),
                event_type="NOTE_ADDED",
                schema_version=1,
                data=b'{"who": "a"}',
            )
        ],
        "",
        Limits(),
        TEST_IDENTITY,  # the subscriber (the default test caller) sees its tenant's streams
    )
    conn = await asyncpg.connect(fresh_dsn)
    watcher = await asyncpg.connect(fresh_dsn)
    try:
        async with open_stub(store) as stub:
            subscription = stub.Subscribe(pb.SubscribeRequest())
            first = await _next_message(subscription)
            assert first.WhichOneof("content") == "caught_up"

            async with conn.transaction():
                outcome = await write_group(conn, [cmd_a], rollup=store.mode == NATIVE)
                result_a = outcome.results[0]
                assert isinstance(result_a, AppendResult)
                b_call = asyncio.ensure_future(
                    stub.AppendToStream(append(stream_b, event(data={"who": "b"})))
                )

                async def b_waits_on_a_lock() -> bool:
                    return bool(
                        await watcher.fetchval(
                            "SELECT count(*) FROM pg_stat_activity WHERE "
                            "datname = current_database() AND wait_event_type = 'Lock'"
                        )
                    )

                await wait_until(b_waits_on_a_lock, "append B to block on A's position lock")
                await asyncio.sleep(1.0)
                assert not b_call.done(), "B completed while A (lower position) was uncommitted"
            b = await asyncio.wait_for(b_call, 10)
            assert b.first_position > result_a.last_position

            live: list[events_pb2.RecordedEvent] = []
            while len(live) < 2:
                live += subscribed_events(await _next_message(subscription))
        assert [e.stream_id for e in live] == [stream_a, stream_b]

        head = await wait_relay_caught_up(conn)
        positions = [
            r["position"]
            for r in await conn.fetch("SELECT position FROM eventstore.events ORDER BY position")
        ]
        assert positions == list(range(1, head + 1)), "positions in the log have a gap"
    finally:
        await watcher.close()
        await conn.close()

    async with bus_client(nats_server.url) as js:
        messages = await read_bus(js, bus["bus_stream"], bus["bus_subject_prefix"])
    assert_exactly_once_in_order(messages, head, bus["bus_subject_prefix"])
    assert [m.event.event_id for m in messages] == [str(cmd_a.events[0].event_id), b.event_ids[0]]


async def test_relay_publishes_by_polling_after_its_listener_is_dropped(
    store_factory: StoreFactory, fresh_dsn: str, nats_server: Any
) -> None:
    """FM-15: NOTIFY only wakes the relay early; without it, polling publishes."""
    bus = bus_overrides()
    store = await store_factory(**bus)

    async def listening_leader() -> bool:
        return store.relay.is_leader and store.relay.listening

    await wait_until(listening_leader, "the relay to lead and listen")
    await store.relay.drop_listener()
    assert not store.relay.listening
    async with open_stub(store) as stub:
        for _ in range(3):
            await append_events(stub, [new_stream(), new_stream()], per_append=3)
    conn = await asyncpg.connect(fresh_dsn)
    try:
        head = await wait_relay_caught_up(conn)
    finally:
        await conn.close()
    assert head == 18
    async with bus_client(nats_server.url) as js:
        messages = await read_bus(js, bus["bus_stream"], bus["bus_subject_prefix"])
    assert_exactly_once_in_order(messages, head, bus["bus_subject_prefix"])


async def test_subscribe_keeps_delivering_after_the_listening_connection_is_killed(
    store_factory: StoreFactory, fresh_dsn: str
) -> None:
    """FM-15 for Subscribe: the notifier's LISTEN connection is terminated while a
    subscription is open; events appended afterwards still arrive, in order."""
    store = await store_factory()
    admin = await asyncpg.connect(fresh_dsn)
    stream = new_stream()
    try:
        async with open_stub(store) as stub:
            subscription = stub.Subscribe(pb.SubscribeRequest())
            first = await _next_message(subscription)
            assert first.WhichOneof("content") == "caught_up"
            received: list[events_pb2.RecordedEvent] = []

            async def next_events(n: int) -> list[str]:
                got: list[str] = []
                while len(got) < n:
                    events = subscribed_events(await _next_message(subscription))
                    received.extend(events)
                    got += [e.event_id for e in events]
                return got

            ids = list((await stub.AppendToStream(append(stream, event()))).event_ids)
            assert await next_events(1) == ids

            async def someone_listens() -> bool:
                return bool(await listening_backends(admin))

            await wait_until(someone_listens, "the notifier's LISTEN connection")
            old = await listening_backends(admin)
            for pid in old:
                await admin.execute("SELECT pg_terminate_backend($1)", pid)
            # Appended right away, while nobody listens: found by polling.
            batch = list(
                (await stub.AppendToStream(append(stream, event(), event(), event()))).event_ids
            )
            assert await next_events(3) == batch
            ids += batch

            async def listener_back() -> bool:
                return any(pid not in old for pid in await listening_backends(admin))

            await wait_until(listener_back, "the notifier to LISTEN again")
            later = list((await stub.AppendToStream(append(stream, event()))).event_ids)
            assert await next_events(1) == later
            ids += later
    finally:
        await admin.close()
    positions = [e.position for e in received]
    assert positions == sorted(set(positions))
    assert [e.event_id for e in received] == ids


async def test_idle_transaction_is_reported_and_pool_sessions_are_time_limited(
    store_factory: StoreFactory, fresh_dsn: str
) -> None:
    """FM-2: an idle-in-transaction session shows up in the oldest-transaction
    gauge (sampled by the watcher's own function), the relay keeps going meanwhile,
    and pooled sessions carry idle_in_transaction_session_timeout."""
    store = await store_factory()
    async with store.pool.acquire() as c1, store.pool.acquire() as c2:
        for c in (c1, c2):
            value = await c.fetchval("SHOW idle_in_transaction_session_timeout")
            ms = int(
                await c.fetchval(
                    "SELECT setting::int FROM pg_settings "
                    "WHERE name = 'idle_in_transaction_session_timeout'"
                )
            )
            assert ms == IDLE_IN_TRANSACTION_TIMEOUT_MS, value
            assert ms > 0

    idle = await asyncpg.connect(fresh_dsn)
    admin = await asyncpg.connect(fresh_dsn)
    tx = idle.transaction()
    await tx.start()
    watcher: asyncio.Task[None] | None = None
    try:
        await idle.execute("SELECT 1")
        idle_pid = idle.get_server_pid()

        async def idle_for_a_while() -> bool:
            age = await admin.fetchval(
                "SELECT extract(epoch FROM clock_timestamp() - xact_start) FROM pg_stat_activity "
                "WHERE pid = $1 AND state = 'idle in transaction'",
                idle_pid,
            )
            return age is not None and float(age) >= 1.5

        await wait_until(idle_for_a_while, "the transaction to be idle for 1.5 s")
        # One sampling step of the watcher (it samples first, then sleeps 15 s), from
        # zero, so a value left by another store's watcher cannot pass for it.
        OLDEST_TRANSACTION_SECONDS.set(0)
        watcher = asyncio.create_task(bootstrap._watch_transactions(store.pool))

        async def gauge_rose() -> bool:
            value = REGISTRY.get_sample_value("fundledger_eventstore_oldest_transaction_seconds")
            return value is not None and value >= 1.5

        await wait_until(gauge_rose, "fundledger_eventstore_oldest_transaction_seconds >= 1.5")

        # The relay does not stall behind an idle transaction that took no position.
        async with open_stub(store) as stub:
            await append_events(stub, [new_stream()], per_append=3)
        assert await wait_relay_caught_up(admin) == 3
    finally:
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        await tx.rollback()
        await idle.close()
        await admin.close()


async def test_bus_stream_uses_the_configured_duplicate_window_and_checkpoints_only_advance(
    store_factory: StoreFactory, fresh_dsn: str, nats_server: Any
) -> None:
    """FM-12, relay side: JetStream drops re-publishes only within the stream's
    duplicate window, so it must be the configured one; the checkpoint never moves back."""
    bus = bus_overrides()
    store = await store_factory(bus_duplicate_window_seconds=95.0, **bus)
    async with bus_client(nats_server.url) as js:
        info = await js.stream_info(bus["bus_stream"])
        assert info.config.duplicate_window == 95.0
        assert info.config.subjects == [f"{bus['bus_subject_prefix']}.>"]
        assert info.config.storage == StorageType.FILE

    conn = await asyncpg.connect(fresh_dsn)
    samples: list[int] = []
    stop = asyncio.Event()

    async def sample() -> None:
        sampler = await asyncpg.connect(fresh_dsn)
        try:
            while not stop.is_set():
                value = await checkpoint(sampler)
                if value is not None:
                    samples.append(value)
                await asyncio.sleep(0.01)
        finally:
            await sampler.close()

    sampling = asyncio.create_task(sample())
    try:
        async with open_stub(store) as stub:
            for _ in range(10):
                await append_events(stub, [new_stream(), new_stream(), new_stream()], per_append=4)
        head = await wait_relay_caught_up(conn)

        async def sampled_head() -> bool:
            return bool(samples) and samples[-1] == head

        await wait_until(sampled_head, "the sampler to see the final checkpoint")
        stop.set()
        await asyncio.wait_for(sampling, 10)
        assert head == await log_head(conn) == 120
    finally:
        stop.set()
        if not sampling.done():
            sampling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampling
        await conn.close()
    assert len(samples) > 1
    assert samples == sorted(samples), f"checkpoint moved back: {samples}"
    assert samples[-1] == head
    async with bus_client(nats_server.url) as js:
        messages = await read_bus(js, bus["bus_stream"], bus["bus_subject_prefix"])
    assert_exactly_once_in_order(messages, head, bus["bus_subject_prefix"])
