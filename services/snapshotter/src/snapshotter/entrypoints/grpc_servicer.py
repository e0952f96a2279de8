"""SnapshotterService: thin — checks fields, calls the use cases, maps the result.

Domain errors raised here become gRPC statuses in the platform's interceptor.
"""

from __future__ import annotations

from typing import Any

import grpc
from fundledger.snapshotter.v1 import snapshotter_pb2 as pb
from fundledger.snapshotter.v1 import snapshotter_pb2_grpc
from fundledger_platform.errors import InvalidArgument
from fundledger_platform.pagination import page_size
from fundledger_platform.reasons import Reason
from fundledger_platform.stream_ids import check_fund_id

from snapshotter.entrypoints import mappers as m
from snapshotter.entrypoints import requests as r
from snapshotter.service_layer.access import FundAccess
from snapshotter.service_layer.listing import snapshot_page
from snapshotter.service_layer.ports import EventLog, SnapshotStore
from snapshotter.service_layer.snapshots import SnapshotMaker, create_manual
from snapshotter.service_layer.time_travel import TimeTravel, check_at_version
from snapshotter.service_layer.timeline import timeline_page

Context = grpc.aio.ServicerContext[Any, Any]


class SnapshotterServicer(snapshotter_pb2_grpc.SnapshotterServiceServicer):
    def __init__(
        self,
        events: EventLog,
        snapshots: SnapshotStore,
        maker: SnapshotMaker,
        time_travel: TimeTravel,
        access: FundAccess,
    ) -> None:
        self._events = events
        self._snapshots = snapshots
        self._maker = maker
        self._time_travel = time_travel
        self._access = access

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
        if target not in ("at_time", "at_version"):
            raise InvalidArgument(
                "one of at_time or at_version is required",
                reason=Reason.TARGET_REQUIRED,
                field="target",
            )
        at_time = r.time_of(request.at_time, "at_time") if target == "at_time" else None
        if at_time is None:
            check_at_version(request.at_version)
        # After the request's own checks: another tenant's fund must answer as a missing one.
        await self._access.require(fund_id)
        if at_time is not None:
            replay = await self._time_travel.at_time(fund_id, at_time)
        else:
            replay = await self._time_travel.at_version(fund_id, request.at_version)
        return m.state_response(replay)

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
        from_version = r.timeline_from(request.page_token, fund_id)
        await self._access.require(fund_id)
        page = await timeline_page(self._events, fund_id, start, end, size, from_version)
        response = pb.GetTimelineResponse(entries=[m.timeline_entry(e) for e in page.events])
        if page.next_version is not None:
            response.next_page_token = r.timeline_token(fund_id, page.next_version)
        return response
