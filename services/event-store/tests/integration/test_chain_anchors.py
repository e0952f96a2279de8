"""The daily anchors of the hash chain (adapters/anchors.py): recorded for the streams a day
changed with the right Merkle root, once however many runs and replicas, published on the bus
once (and again after a restart when the publish did not commit), and checked by VerifyStream
and VerifyLog — which then find a chain rewritten consistently from an edited event on, the
attack the chain alone cannot see. In whichever storage mode the test PostgreSQL gives."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

import nats
import pytest
from eventstore.bootstrap import EventStore
from eventstore_support import append, collect, event, new_stream, open_channel
from fundledger.eventstore.v1 import eventstore_pb2 as pb
from fundledger.eventstore.v1 import eventstore_pb2_grpc
from fundledger.eventstore.v1.events_pb2 import RecordedEvent
from fundledger_kernel.chain import genesis, link
from fundledger_kernel.merkle import root
from fundledger_platform.chain_check import chain_event
from nats.aio.msg import Msg

WAIT = 20.0  # a bound on waiting for a message, never an assertion on time


def today() -> date:
    return datetime.now(UTC).date()


@pytest.fixture
async def replicas(store_factory: Any) -> AsyncIterator[tuple[list[EventStore], Any, str]]:
    """Two event stores on one database, anchors not run by their leaders (the test does),
    publishing on a subject of their own; a stub to the first."""
    subject = f"t{uuid.uuid4().hex[:10]}.anchors"
    stores = [
        await store_factory(relay_enabled=False, anchors_enabled=False, anchor_subject=subject)
        for _ in range(2)
    ]
    async with open_channel(stores[0]) as channel:
        yield stores, eventstore_pb2_grpc.EventStoreServiceStub(channel), subject


async def read(stub: Any, stream: str) -> list[RecordedEvent]:
    events: list[RecordedEvent] = await collect(
        stub.ReadStream(pb.ReadStreamRequest(stream_id=stream))
    )
    return events


async def two_streams(stub: Any) -> tuple[str, str]:
    a, b = new_stream(), new_stream()
    for _ in range(3):
        await stub.AppendToStream(append(a, event()))
    await stub.AppendToStream(append(b, event(), event()))
    return a, b


async def test_an_anchor_names_every_changed_stream_and_its_root_once(
    replicas: tuple[list[EventStore], Any, str],
) -> None:
    stores, stub, _ = replicas
    a, b = await two_streams(stub)
    day = today()
    # Two replicas at once, then again: one anchor.
    results = await asyncio.gather(*(s.anchors.record(day) for s in stores))
    assert sorted(results) == [False, True]
    assert not await stores[1].anchors.record(day)
    pool = stores[0].pool
    anchor = await pool.fetchrow("SELECT * FROM eventstore.log_anchors WHERE day = $1", day)
    assert await pool.fetchval("SELECT count(*) FROM eventstore.log_anchors") == 1
    heads = {(await read(stub, s))[-1].stream_id: (await read(stub, s))[-1] for s in (a, b)}
    rows = await pool.fetch(
        "SELECT stream_id, version, hash FROM eventstore.log_anchor_streams WHERE day = $1", day
    )
    assert {r["stream_id"]: (r["version"], bytes(r["hash"])) for r in rows} == {
        s: (e.version, e.hash) for s, e in heads.items()
    }
    assert (a, 3) in {(r["stream_id"], r["version"]) for r in rows}
    assert anchor["stream_count"] == 2
    assert bytes(anchor["root"]) == root((s, e.hash) for s, e in heads.items())
    assert anchor["published_at"] is None


async def test_published_once_and_again_after_a_restart_that_did_not_commit_it(
    replicas: tuple[list[EventStore], Any, str], store_factory: Any, nats_server: Any
) -> None:
    stores, stub, subject = replicas
    a, b = await two_streams(stub)
    day = today()
    received: asyncio.Queue[Msg] = asyncio.Queue()
    reader = await nats.connect(nats_server.url)
    try:

        async def keep(msg: Msg) -> None:
            await received.put(msg)

        await reader.subscribe(subject, cb=keep)
        await reader.flush()
        assert await stores[0].anchors.record(day)
        counts = await asyncio.gather(*(s.anchors.publish_pending() for s in stores))
        assert sorted(counts) == [0, 1]
        assert await stores[1].anchors.publish_pending() == 0
        msg = await asyncio.wait_for(received.get(), WAIT)
        body = json.loads(msg.data)
        stored = await stores[0].pool.fetchval(
            "SELECT root FROM eventstore.log_anchors WHERE day = $1", day
        )
        assert body["day"] == day.isoformat()
        assert body["root"] == bytes(stored).hex()
        assert (body["stream_count"], body["part"], body["parts"]) == (2, 1, 1)
        assert {s["stream_id"]: s["version"] for s in body["streams"]} == {a: 3, b: 2}
        assert msg.headers is not None
        assert msg.headers["Nats-Msg-Id"] == f"{day}/1"
        # Nothing more went out: a round trip through the server after the last publish.
        for store in stores:
            await store.bus.flush()
        await reader.flush()
        assert received.empty()
        # Recorded, not published (the leader stopped before its commit): a new leader
        # publishes it when it starts (and records the day due by then).
        await stores[0].pool.execute(
            "UPDATE eventstore.log_anchors SET published_at = NULL WHERE day = $1", day
        )
        await store_factory(relay_enabled=False, anchor_subject=subject)
        days = set()
        for _ in range(3):  # today's again, and the one the new leader recorded (before it)
            days.add(json.loads((await asyncio.wait_for(received.get(), WAIT)).data)["day"])
            if day.isoformat() in days:
                break
        assert day.isoformat() in days
        assert await stores[0].pool.fetchval(
            "SELECT count(*) FROM eventstore.log_anchors WHERE published_at IS NULL"
        ) in (0, 1)  # the new leader's own day may still be in flight
    finally:
        await reader.close()


async def rewrite_consistently(store: EventStore, stub: Any, stream: str, version: int) -> None:
    """The attack: an edit of one event, then every later hash and the head's recomputed."""
    await store.pool.execute(
        "UPDATE eventstore.events SET data = '{\"n\": 666}' WHERE stream_id = $1 AND version = $2",
        stream,
        version,
    )
    current = genesis(stream)
    for e in await read(stub, stream):
        current = link(current, chain_event(e))
        await store.pool.execute(
            "UPDATE eventstore.events SET hash = $3 WHERE stream_id = $1 AND version = $2",
            stream,
            e.version,
            current,
        )
    await store.pool.execute(
        "UPDATE eventstore.streams SET last_hash = $2 WHERE stream_id = $1", stream, current
    )


async def verify_log(stub: Any) -> list[tuple[str, int, str]]:
    reports = [r async for r in stub.VerifyLog(pb.VerifyLogRequest())]
    assert reports[-1].done
    return [(b.stream_id, b.version, b.problem) for r in reports for b in r.breaks]


async def test_verify_finds_a_consistently_rewritten_chain_by_its_anchor(
    replicas: tuple[list[EventStore], Any, str],
) -> None:
    stores, stub, _ = replicas
    store = stores[0]
    a, b = await two_streams(stub)
    assert await store.anchors.record(today())
    assert await verify_log(stub) == []
    assert (await stub.VerifyStream(pb.VerifyStreamRequest(stream_id=a))).ok
    await rewrite_consistently(store, stub, a, 2)
    # The chain alone holds: only the anchor tells.
    response = await stub.VerifyStream(pb.VerifyStreamRequest(stream_id=a))
    problem = getattr(response, "break")
    assert (problem.stream_id, problem.version, problem.problem) == (a, 3, "anchor mismatch")
    assert await verify_log(stub) == [(a, 3, "anchor mismatch")]
    # The anchored heads edited to match: the root no longer recomputes.
    fixed = (await read(stub, a))[-1].hash
    await store.pool.execute(
        "UPDATE eventstore.log_anchor_streams SET hash = $2 WHERE stream_id = $1", a, fixed
    )
    assert await verify_log(stub) == [("", 0, f"anchor root mismatch on {today().isoformat()}")]
    # A later append chains on as usual; the anchored version is still checked.
    await stub.AppendToStream(append(b, event()))
    assert (await stub.VerifyStream(pb.VerifyStreamRequest(stream_id=b))).ok


async def test_an_anchored_tail_removed_with_a_consistent_head_is_found(
    replicas: tuple[list[EventStore], Any, str],
) -> None:
    stores, stub, _ = replicas
    store = stores[0]
    a, _ = await two_streams(stub)
    assert await store.anchors.record(today())
    events = await read(stub, a)
    await store.pool.execute(
        "DELETE FROM eventstore.events WHERE stream_id = $1 AND version = 3", a
    )
    await store.pool.execute(
        "UPDATE eventstore.streams SET version = 2, chain_version = 2, last_hash = $2 "
        "WHERE stream_id = $1",
        a,
        events[1].hash,
    )
    response = await stub.VerifyStream(pb.VerifyStreamRequest(stream_id=a))
    problem = getattr(response, "break")
    assert (problem.version, problem.problem) == (3, "anchor mismatch")
