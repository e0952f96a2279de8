"""Reading back what the relay put on JetStream, and bounded waits on the relay's state.

Everything here talks to the real servers: the JetStream stream is read with an
ephemeral pull consumer from its first message, and every message body is decoded
as the RecordedEvent the relay published.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import asyncpg
import eventstore_support
import nats
from eventstore.bootstrap import EventStore, build, migrate
from eventstore_support import open_channel
from fundledger.eventstore.v1 import events_pb2, eventstore_pb2_grpc
from fundledger.eventstore.v1 import eventstore_pb2 as pb
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from tests.support.event_store import eventstore_settings
from tests.support.server_settings import loopback_server_settings
from tests.support.waiting import wait_until as wait_until

if TYPE_CHECKING:
    from fundledger.eventstore.v1.eventstore_pb2_grpc import EventStoreServiceAsyncStub

RELAY_NAME = "jetstream"  # the relay name bootstrap.build uses (Relay's default)
DEFAULT_WAIT = 10.0


@dataclass(frozen=True)
class BusMessage:
    """One message as stored in the JetStream stream."""

    seq: int
    subject: str
    headers: dict[str, str]
    event: events_pb2.RecordedEvent


def bus_overrides() -> dict[str, Any]:
    """Settings overrides naming one bus stream and subject prefix, for several stores
    that must publish to the same place (same database, same bus)."""
    tag = uuid.uuid4().hex[:10]
    return {"bus_stream": f"R_{tag}", "bus_subject_prefix": f"r{tag}.events"}


@asynccontextmanager
async def bus_client(url: str) -> AsyncIterator[JetStreamContext]:
    """A plain NATS connection of the test's own (not the store's), closed afterwards."""
    nc: NATS = await nats.connect(url, name="relay-test-reader", max_reconnect_attempts=-1)
    try:
        yield nc.jetstream()
    finally:
        await nc.close()


async def stream_message_count(js: JetStreamContext, stream: str) -> int:
    info = await js.stream_info(stream)
    assert info.state is not None
    return int(info.state.messages)


async def wait_bus_holds(js: JetStreamContext, stream: str, count: int) -> None:
    """Until the bus stream holds exactly ``count`` messages."""

    async def holds() -> bool:
        return await stream_message_count(js, stream) == count

    await wait_until(holds, f"the bus to hold {count} events")


async def read_bus(
    js: JetStreamContext, stream: str, prefix: str, within: float = DEFAULT_WAIT
) -> list[BusMessage]:
    """Every message in `stream`, in stream order, read by an ephemeral pull consumer
    from the first message (the count is taken from the stream state first)."""
    total = await stream_message_count(js, stream)
    if total == 0:
        return []
    config = ConsumerConfig(
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        inactive_threshold=30.0,
        max_ack_pending=-1,
    )
    sub = await js.pull_subscribe(f"{prefix}.>", stream=stream, config=config)
    out: list[BusMessage] = []
    deadline = time.monotonic() + within
    try:
        while len(out) < total:
            if time.monotonic() >= deadline:
                raise AssertionError(f"read {len(out)} of {total} messages of {stream}")
            try:
                batch = await sub.fetch(min(256, total - len(out)), timeout=1.0)
            except nats.errors.TimeoutError:
                continue
            for msg in batch:
                event = events_pb2.RecordedEvent()
                event.ParseFromString(msg.data)
                out.append(
                    BusMessage(
                        seq=msg.metadata.sequence.stream,
                        subject=msg.subject,
                        headers=dict(msg.headers or {}),
                        event=event,
                    )
                )
                await msg.ack()
    finally:
        await sub.unsubscribe()
    return out


async def checkpoint(conn: asyncpg.Connection, name: str = RELAY_NAME) -> int | None:
    value = await conn.fetchval(
        "SELECT position FROM eventstore.relay_checkpoints WHERE name = $1", name
    )
    return None if value is None else int(value)


async def log_head(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT last_position FROM eventstore.log_head"))


async def wait_relay_caught_up(
    conn: asyncpg.Connection, expected: int | None = None, within: float = DEFAULT_WAIT
) -> int:
    """Waits until the relay checkpoint reached the log head (or `expected`); returns it."""

    async def caught_up() -> bool:
        target = await log_head(conn) if expected is None else expected
        return await checkpoint(conn) == target

    await wait_until(caught_up, "the relay checkpoint to reach the log head", within)
    done = await checkpoint(conn)
    assert done is not None
    return done


async def advisory_lock_holders(conn: asyncpg.Connection, key: int) -> list[int]:
    """Backends of this database holding the session advisory lock on a bigint `key`
    (stored by PostgreSQL as classid = high 32 bits, objid = low 32 bits, objsubid 1)."""
    rows = await conn.fetch(
        """
        SELECT l.pid FROM pg_locks l JOIN pg_database d ON d.oid = l.database
        WHERE l.locktype = 'advisory' AND l.granted AND d.datname = current_database()
          AND l.classid = $1 AND l.objid = $2 AND l.objsubid = 1
        """,
        key >> 32,
        key & 0xFFFFFFFF,
    )
    return [int(r["pid"]) for r in rows]


async def listening_backends(conn: asyncpg.Connection) -> list[int]:
    """Backends of this database whose last statement was a LISTEN (the notifier's)."""
    rows = await conn.fetch(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
        "AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()"
    )
    return [int(r["pid"]) for r in rows]


def subject_of(prefix: str, event: events_pb2.RecordedEvent) -> str:
    """The subject the contract promises: `<prefix>.<category>.<stream id as one token>`."""
    return f"{prefix}.{event.category}.{event.stream_id.replace('.', '_')}"


def assert_exactly_once_in_order(messages: list[BusMessage], head: int, prefix: str) -> None:
    """The bus holds positions 1..head, each once, in position order, each message
    with Nats-Msg-Id = its event id and the subject of its stream."""
    positions = [m.event.position for m in messages]
    expected = list(range(1, head + 1))
    if positions != expected:
        pairs = enumerate(zip(positions, expected, strict=False))
        at = next((i for i, (got, want) in pairs if got != want), min(len(positions), head))
        raise AssertionError(
            f"bus holds {len(positions)} messages for positions 1..{head}; first difference "
            f"at stream seq {at + 1}: positions {positions[max(0, at - 3) : at + 12]} "
            f"(duplicates: {sorted(p for p in set(positions) if positions.count(p) > 1)}, "
            f"missing: {sorted(set(expected) - set(positions))})"
        )
    ids = [m.event.event_id for m in messages]
    assert len(set(ids)) == len(ids)
    for m in messages:
        assert m.headers.get("Nats-Msg-Id") == m.event.event_id
        assert m.subject == subject_of(prefix, m.event)


@asynccontextmanager
async def open_stub(store: EventStore) -> AsyncIterator[EventStoreServiceAsyncStub]:
    async with open_channel(store) as channel:
        yield eventstore_pb2_grpc.EventStoreServiceStub(channel)


async def append_events(
    stub: EventStoreServiceAsyncStub, streams: list[str], per_append: int
) -> list[str]:
    """One append of `per_append` events to each stream, all at once; the new event ids."""
    calls = [
        stub.AppendToStream(
            pb.AppendToStreamRequest(
                stream_id=stream,
                events=[
                    events_pb2.EventData(
                        event_type="NOTE_ADDED",
                        data=json.dumps({"stream": stream, "i": i}).encode(),
                    )
                    for i in range(per_append)
                ],
            )
        )
        for stream in streams
    ]
    responses = await asyncio.gather(*calls)
    return [event_id for r in responses for event_id in r.event_ids]


@asynccontextmanager
async def store_factory_on(
    dsn: str, nats_url: str
) -> AsyncIterator[Callable[..., Awaitable[EventStore]]]:
    """Like the `store_factory` fixture (secure like it), but on the NATS server at `nats_url`
    (e.g. a `fresh_nats` the test kills): `store_factory` cannot take `nats_url` as an
    override."""
    started: list[EventStore] = []
    await migrate(dsn)
    assert eventstore_support.SECURE is not None, "conftest sets the secure environment"
    secure = eventstore_support.SECURE.server_settings(loopback_server_settings("event-store"))

    async def start(**overrides: Any) -> EventStore:
        overrides.setdefault("server", secure)
        store = await build(eventstore_settings(dsn, nats_url, **overrides))
        await store.server.start()
        started.append(store)
        return store

    try:
        yield start
    finally:
        for store in reversed(started):
            await store.server.stop(1.0)
