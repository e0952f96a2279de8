"""Permissions that depend on the request, under the shipped policy (deploy/policy.yaml), each
both ways: the stream category of appends and reads, and whose activity may be listed.
Against the real secure store; every refused write writes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest
from eventstore.bootstrap import EventStore
from eventstore_support import append, collect, event, metadata_of, reason_of
from fundledger.eventstore.v1 import eventstore_pb2 as pb

MANAGER = ("fund-manager",)
VIEWER = ("fund-viewer",)


def stream(category: str) -> str:
    return f"{category}-{uuid.uuid4()}"


async def refused(call: Callable[[], Awaitable[Any]], permission: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call()
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED, caught.value
    assert reason_of(caught.value) == "PERMISSION_MISSING"
    assert metadata_of(caught.value)["permission"] == permission


async def count_rows(store: EventStore, stream_id: str) -> int:
    return int(
        await store.pool.fetchval(
            "SELECT count(*) FROM eventstore.events WHERE stream_id = $1", stream_id
        )
    )


# -- stream categories ------------------------------------------------------------------------


async def test_a_fund_manager_appends_to_funds_and_files_only(
    store: EventStore, as_caller: Any
) -> None:
    manager = as_caller("max", roles=MANAGER, tenant="acme")
    fund, file, company = stream("fund"), stream("file"), stream("company")
    await manager.AppendToStream(append(fund, event()))
    await manager.AppendToStream(append(file, event()))  # storage appends these for them
    await refused(lambda: manager.AppendToStream(append(company, event())), "events.append:company")
    assert await count_rows(store, company) == 0
    assert (await count_rows(store, fund), await count_rows(store, file)) == (1, 1)


async def test_reads_need_the_category(store: EventStore, as_caller: Any) -> None:
    admin = as_caller("ann", tenant="acme")  # writes both categories
    viewer = as_caller("vic", roles=VIEWER, tenant="acme")
    fund, company = stream("fund"), stream("company")
    correlation = uuid.uuid4().hex
    await admin.AppendToStream(append(fund, event(correlation_id=correlation)))
    await admin.AppendToStream(append(company, event(correlation_id=correlation)))

    # ReadStream and GetStreamInfo: fund yes, company no.
    assert len(await collect(viewer.ReadStream(pb.ReadStreamRequest(stream_id=fund)))) == 1
    await refused(
        lambda: collect(viewer.ReadStream(pb.ReadStreamRequest(stream_id=company))),
        "events.read:company",
    )
    assert (await viewer.GetStreamInfo(pb.GetStreamInfoRequest(stream_id=fund))).version == 1
    await refused(
        lambda: viewer.GetStreamInfo(pb.GetStreamInfoRequest(stream_id=company)),
        "events.read:company",
    )
    # ReadAll: the categories asked for; none means all of them.
    funds = await collect(viewer.ReadAll(pb.ReadAllRequest(categories=["fund"])))
    assert [e.stream_id for e in funds] == [fund]
    await refused(
        lambda: collect(viewer.ReadAll(pb.ReadAllRequest(categories=["fund", "company"]))),
        "events.read:company",
    )
    await refused(lambda: collect(viewer.ReadAll(pb.ReadAllRequest())), "events.read:*")
    # A filter value no category can be matches nothing: nothing to refuse.
    junk = pb.ReadAllRequest(categories=["fund", "Not a category/.."])
    assert [e.stream_id for e in await collect(viewer.ReadAll(junk))] == [fund]
    # An operation's events: only the categories the caller may read.
    correlated = await viewer.ListCorrelatedEvents(
        pb.ListCorrelatedEventsRequest(correlation_id=correlation)
    )
    assert [e.stream_id for e in correlated.events] == [fund]
    everything = await admin.ListCorrelatedEvents(
        pb.ListCorrelatedEventsRequest(correlation_id=correlation)
    )
    assert [e.stream_id for e in everything.events] == [fund, company]


async def test_subscribe_is_for_services_with_the_category(
    store: EventStore, as_caller: Any, as_service: Any
) -> None:
    viewer = as_caller("vic", roles=VIEWER, tenant="acme")
    await refused(
        lambda: collect(viewer.Subscribe(pb.SubscribeRequest(categories=["fund"]))),
        "events.subscribe",
    )
    projector = as_service("projector")
    call = projector.Subscribe(pb.SubscribeRequest(categories=["fund"]), timeout=10)
    try:
        first = await call.read()
        assert first.HasField("caught_up")
    finally:
        call.cancel()
    # Allocation may read funds, not subscribe to anything.
    allocation = as_service("allocation")
    await refused(
        lambda: collect(allocation.Subscribe(pb.SubscribeRequest(categories=["fund"]))),
        "events.subscribe",
    )


# -- whose activity ---------------------------------------------------------------------------


async def test_a_user_lists_their_own_activity_not_anothers(
    store: EventStore, as_caller: Any
) -> None:
    ann = as_caller("ann", roles=MANAGER, tenant="acme")
    bea = as_caller("bea", roles=MANAGER, tenant="acme")
    await ann.AppendToStream(append(stream("fund"), event()))
    await bea.AppendToStream(append(stream("fund"), event()))

    own = await ann.ListUserEvents(pb.ListUserEventsRequest(user_id="ann"))
    assert [e.user_id for e in own.events] == ["ann"]
    assert (await ann.CountEvents(pb.CountEventsRequest(user_id="ann"))).count == 1
    daily = await ann.GetDailyCounts(pb.GetDailyCountsRequest(user_id="ann"))
    assert [c.user_id for c in daily.counts] == ["ann"]

    for call in (
        lambda: ann.ListUserEvents(pb.ListUserEventsRequest(user_id="bea")),
        lambda: ann.CountEvents(pb.CountEventsRequest(user_id="bea")),
        lambda: ann.GetDailyCounts(pb.GetDailyCountsRequest(user_id="bea")),
        # Everyone's is everyone else's too.
        lambda: ann.CountEvents(pb.CountEventsRequest()),
        lambda: ann.GetDailyCounts(pb.GetDailyCountsRequest()),
    ):
        await refused(call, "analytics.read")


async def test_analytics_read_lists_anyones_activity_in_the_tenant(
    store: EventStore, as_caller: Any
) -> None:
    bea = as_caller("bea", roles=MANAGER, tenant="acme")
    await bea.AppendToStream(append(stream("fund"), event()))
    analyst = as_caller("ana", roles=("analyst",), tenant="acme")
    listed = await analyst.ListUserEvents(pb.ListUserEventsRequest(user_id="bea"))
    assert [e.user_id for e in listed.events] == ["bea"]
    assert (await analyst.CountEvents(pb.CountEventsRequest(user_id="bea"))).count == 1
    assert (await analyst.CountEvents(pb.CountEventsRequest())).count == 1
    daily = await analyst.GetDailyCounts(pb.GetDailyCountsRequest())
    assert [(c.user_id, c.count) for c in daily.counts] == [("bea", 1)]
