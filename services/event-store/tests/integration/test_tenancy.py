"""Tenants in the log: a person of tenant A never reads, lists, counts or appends to tenant B's
streams — every read RPC answers NOT_FOUND for B's stream (as for one that does not exist), and
no listing or count includes B's events. Against the real secure store; both callers are
admins, so only the tenant decides.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from eventstore.bootstrap import EventStore
from eventstore_support import (
    append,
    collect,
    event,
    metadata_of,
    new_category,
    reason_of,
    subscribed_events,
)
from fundledger.eventstore.v1 import eventstore_pb2 as pb

Stub = Any


@dataclass
class World:
    """Two tenants' streams of one category and one correlation; acme's user is ann, globex's
    is gus."""

    acme: Stub
    globex: Stub
    category: str
    kind: str
    correlation: str
    mine: str  # acme's stream
    theirs: str  # globex's stream


@pytest.fixture
async def world(as_caller: Any) -> World:
    category, kind, correlation = new_category(), f"T_{uuid.uuid4().hex[:10]}", uuid.uuid4().hex
    acme = as_caller("ann", tenant="acme")
    globex = as_caller("gus", tenant="globex")
    mine, theirs = f"{category}-{uuid.uuid4()}", f"{category}-{uuid.uuid4()}"
    for stub, stream in ((acme, mine), (globex, theirs)):
        await stub.AppendToStream(
            append(stream, event(kind, correlation_id=correlation), event(kind))
        )
    return World(acme, globex, category, kind, correlation, mine, theirs)


def assert_not_found(err: grpc.aio.AioRpcError, stream_id: str) -> None:
    assert err.code() == grpc.StatusCode.NOT_FOUND, err
    assert reason_of(err) == "STREAM_NOT_FOUND"
    assert metadata_of(err) == {"stream_id": stream_id}


async def test_another_tenants_stream_is_not_found_by_every_stream_read(world: World) -> None:
    for call in (
        lambda: collect(world.acme.ReadStream(pb.ReadStreamRequest(stream_id=world.theirs))),
        lambda: world.acme.GetStreamInfo(pb.GetStreamInfoRequest(stream_id=world.theirs)),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call()
        assert_not_found(caught.value, world.theirs)
    # Exactly what a stream that does not exist answers.
    missing = f"{world.category}-{uuid.uuid4()}"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await world.acme.GetStreamInfo(pb.GetStreamInfoRequest(stream_id=missing))
    assert_not_found(caught.value, missing)
    # Each tenant reads its own.
    info = await world.globex.GetStreamInfo(pb.GetStreamInfoRequest(stream_id=world.theirs))
    assert info.version == 2


async def test_listings_and_counts_hold_only_the_callers_tenant(world: World) -> None:
    acme = world.acme
    everything = await collect(acme.ReadAll(pb.ReadAllRequest(categories=[world.category])))
    assert {e.stream_id for e in everything} == {world.mine}
    assert {e.tenant for e in everything} == {"acme"}
    unfiltered = await collect(acme.ReadAll(pb.ReadAllRequest(event_types=[world.kind])))
    assert {e.stream_id for e in unfiltered} == {world.mine}

    correlated = await acme.ListCorrelatedEvents(
        pb.ListCorrelatedEventsRequest(correlation_id=world.correlation)
    )
    assert [e.stream_id for e in correlated.events] == [world.mine]

    # ann's own activity, and gus's (an admin may read anyone's, but only in her tenant).
    own = await acme.ListUserEvents(pb.ListUserEventsRequest(user_id="ann"))
    assert {e.stream_id for e in own.events} >= {world.mine}
    theirs = await acme.ListUserEvents(pb.ListUserEventsRequest(user_id="gus"))
    assert list(theirs.events) == []

    counted = await acme.CountEvents(pb.CountEventsRequest(category=world.category))
    assert counted.count == 2
    assert (await acme.CountEvents(pb.CountEventsRequest(user_id="gus"))).count == 0
    daily = await acme.GetDailyCounts(pb.GetDailyCountsRequest(event_types=[world.kind]))
    assert [(c.user_id, c.count) for c in daily.counts] == [("ann", 2)]
    assert list((await acme.GetDailyCounts(pb.GetDailyCountsRequest(user_id="gus"))).counts) == []

    # globex sees its own side of each.
    other = await world.globex.CountEvents(pb.CountEventsRequest(category=world.category))
    assert other.count == 2


async def test_subscribe_delivers_only_the_callers_tenant(world: World) -> None:
    call = world.acme.Subscribe(
        pb.SubscribeRequest(categories=[world.category], from_position=1), timeout=30
    )
    seen: list[str] = []
    try:
        async with asyncio.timeout(20):
            while not (message := await call.read()).HasField("caught_up"):
                seen += [e.stream_id for e in subscribed_events(message)]
            # Live: globex appends first, then acme; only acme's arrives.
            await world.globex.AppendToStream(append(world.theirs, event(world.kind)))
            await world.acme.AppendToStream(append(world.mine, event(world.kind)))
            message = await call.read()
            seen += [e.stream_id for e in subscribed_events(message)]
    finally:
        call.cancel()
    assert seen == [world.mine] * 3


@pytest.mark.parametrize(
    "expectation",
    [{}, {"expected_version": 2}, {"expected_state": pb.STREAM_STATE_STREAM_EXISTS}],
    ids=["any", "exact", "stream_exists"],
)
async def test_appending_to_another_tenants_stream_is_not_found_and_writes_nothing(
    world: World, store: EventStore, expectation: dict[str, Any]
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await world.acme.AppendToStream(append(world.theirs, event(), **expectation))
    assert_not_found(caught.value, world.theirs)
    assert await stored_versions(store, world.theirs) == [1, 2]


async def test_no_stream_and_idempotency_keys_disclose_nothing(
    world: World, store: EventStore
) -> None:
    """Creating a stream another tenant has, or re-sending their idempotency key, is NOT_FOUND
    too: never WRONG_EXPECTED_VERSION with their version, nor a replay of their result."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await world.acme.AppendToStream(
            append(world.theirs, event(), expected_state=pb.STREAM_STATE_NO_STREAM)
        )
    assert_not_found(caught.value, world.theirs)
    keyed = append(world.theirs, event(world.kind), idempotency_key="k-1")
    first = await world.globex.AppendToStream(keyed)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await world.acme.AppendToStream(keyed)
    assert_not_found(caught.value, world.theirs)
    assert (await world.globex.AppendToStream(keyed)).replayed
    assert first.last_version == 3
    assert await stored_versions(store, world.theirs) == [1, 2, 3]


async def test_a_stream_without_a_tenant_is_not_found_for_a_person(
    store: EventStore, as_caller: Any, as_service: Any
) -> None:
    """A stream a service created for itself has no tenant: no person reads or appends to it;
    services do."""
    projector, storage = as_service("projector"), as_service("storage")
    s = f"fund-{uuid.uuid4()}"
    await storage.AppendToStream(append(s, event()))
    person = as_caller("ann", tenant="acme")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await person.AppendToStream(append(s, event()))
    assert_not_found(caught.value, s)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await person.GetStreamInfo(pb.GetStreamInfoRequest(stream_id=s))
    assert_not_found(caught.value, s)
    assert await stored_versions(store, s) == [1]
    info = await projector.GetStreamInfo(pb.GetStreamInfoRequest(stream_id=s))
    assert info.version == 1


async def test_services_acting_for_themselves_see_every_tenant(
    world: World, as_service: Any
) -> None:
    projector = as_service("projector")
    events = await collect(projector.ReadAll(pb.ReadAllRequest(categories=[world.category])))
    assert {(e.stream_id, e.tenant) for e in events} == {
        (world.mine, "acme"),
        (world.theirs, "globex"),
    }


async def test_a_person_without_a_tenant_is_refused(store: EventStore, as_caller: Any) -> None:
    nobody = as_caller("nemo", tenant=None)
    for call in (
        lambda: nobody.AppendToStream(append(f"fund-{uuid.uuid4()}", event())),
        lambda: collect(nobody.ReadAll(pb.ReadAllRequest(categories=["fund"]))),
        lambda: nobody.CountEvents(pb.CountEventsRequest()),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call()
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert reason_of(caught.value) == "TENANT_MISSING"


async def stored_versions(store: EventStore, stream_id: str) -> list[int]:
    rows = await store.pool.fetch(
        "SELECT version FROM eventstore.events WHERE stream_id = $1 ORDER BY version", stream_id
    )
    return [int(r["version"]) for r in rows]
