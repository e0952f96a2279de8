"""SnapshotterService: thin — checks fields, calls the use cases, maps the result.

Domain errors raised here become gRPC statuses in the platform's interceptor.
"""

from __future__ import annotations

from typing import Any

import grpc
from fundledger.snapshotter.v1 import snapshotter_pb2 as pb
from fundledger.snapshotter.v1 import snapshotter_pb2_grpc
from fundledger_platform.pagination import page_size
from fundledger_platform.stream_ids import check_fund_id

from snapshotter.entrypoints import mappers as m
from snapshotter.entrypoints import requests as r
from snapshotter.service_layer.access import FundAccess
from snapshotter.service_layer.history import History
from snapshotter.service_layer.listing import snapshot_page
from snapshotter.service_layer.ports import Clock, EventLog, SnapshotStore
from snapshotter.service_layer.restatement import restatement
from snapshotter.service_layer.snapshots import SnapshotMaker, create_manual
from snapshotter.service_layer.time_travel import TimeTravel, check_at_version
from snapshotter.service_layer.timeline import Order, effective_timeline_page, timeline_page

Context = grpc.aio.ServicerContext[Any, Any]


class SnapshotterServicer(snapshotter_pb2_grpc.SnapshotterServiceServicer):
    def __init__(
        self,
        events: EventLog,
        snapshots: SnapshotStore,
        maker: SnapshotMaker,
        time_travel: TimeTravel,
        access: FundAccess,
        history: History,
        clock: Clock,
    ) -> None:
        self._events = events
        self._snapshots = snapshots
        self._maker = maker
        self._time_travel = time_travel
        self._access = access
        self._history = history
        self._clock = clock

    async def CreateSnapshot(
        self, request: pb.CreateSnapshotRequest, context: Context
    ) -> pb.CreateSnapshotResponse:
        fund_id = check_fund_id(request.fund_id)
        at_version = request.at_version if request.HasField("at_version") else None
        await self._access.require(fund_id)
        snapshot = await create_manual(self._events, self._maker, fund_id, at_version)
        return pb.CreateSnapshotResponse(snapshot=m.snapshot(snapshot))

    async def GetFundStateAt(
        self, request: pb.GetFundStateAtRequest, context: Context
    ) -> pb.GetFundStateAtResponse:
        fund_id = check_fund_id(request.fund_id)
        target = request.WhichOneof("target")
        effective_at = (
            r.time_of(request.effective_at, "effective_at")
            if request.HasField("effective_at")
            else None
        )
        known_at = None
        if target in ("at_time", "known_at"):
            # One oneof: at_time is the known time by its older name.
            known_at = r.time_of(getattr(request, target), target)
        elif target == "at_version":
            check_at_version(request.at_version)
        # After the request's own checks: another tenant's fund must answer as a missing one.
        await self._access.require(fund_id)
        if target == "at_version":
            answer = await self._time_travel.at_version(fund_id, request.at_version, effective_at)
        else:
            answer = await self._time_travel.at_time(fund_id, known_at, effective_at)
        return m.state_response(answer)

    async def ListSnapshots(
        self, request: pb.ListSnapshotsRequest, context: Context
    ) -> pb.ListSnapshotsResponse:
        fund_id = check_fund_id(request.fund_id)
        size = page_size(request.page_size)
        before = r.snapshots_after(request.page_token, fund_id)
        await self._access.require(fund_id)
        page = await snapshot_page(self._snapshots, self._events, fund_id, before, size)
        response = pb.ListSnapshotsResponse(snapshots=[m.snapshot(s) for s in page.snapshots])
        if page.continues_after is not None:
            response.next_page_token = r.snapshots_token(page.continues_after)
        return response

    async def GetTimeline(
        self, request: pb.GetTimelineRequest, context: Context
    ) -> pb.GetTimelineResponse:
        fund_id = check_fund_id(request.fund_id)
        size = page_size(request.page_size)
        start, end = r.window(
            r.time_of(request.start_time, "start_time") if request.HasField("start_time") else None,
            r.time_of(request.end_time, "end_time") if request.HasField("end_time") else None,
        )
        order = r.timeline_order(request.order)
        scope = r.timeline_scope(fund_id, order, start, end)
        response = pb.GetTimelineResponse()
        if order is Order.EFFECTIVE:
            from_key = r.effective_from(request.page_token, scope)
            await self._access.require(fund_id)
            page = await effective_timeline_page(self._events, fund_id, start, end, size, from_key)
            if page.next_key is not None:
                response.next_page_token = r.effective_token(scope, page.next_key)
        else:
            from_version = r.timeline_from(request.page_token, scope)
            await self._access.require(fund_id)
            page = await timeline_page(self._events, fund_id, start, end, size, from_version)
            if page.next_version is not None:
                response.next_page_token = r.timeline_token(scope, page.next_version)
        response.entries.extend(m.timeline_entry(e) for e in page.events)
        return response

    async def GetRestatement(
        self, request: pb.GetRestatementRequest, context: Context
    ) -> pb.GetRestatementResponse:
        fund_id = check_fund_id(request.fund_id)
        effective_at = r.required_time(request, "effective_at")
        before = r.required_time(request, "known_at_before")
        after = (
            r.time_of(request.known_at_after, "known_at_after")
            if request.HasField("known_at_after")
            else None
        )
        now = self._clock.now()
        r.known_times_in_order(before, after if after is not None else now)
        await self._access.require(fund_id)
        answer = await restatement(
            self._history, self._events, fund_id, effective_at, before, after, now
        )
        return m.restatement_response(answer)
