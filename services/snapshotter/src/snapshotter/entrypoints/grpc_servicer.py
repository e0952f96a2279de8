"""SnapshotterService: thin — checks fields, calls the use cases, maps the result.

Domain errors raised here become gRPC statuses in the platform's interceptor.
"""

from __future__ import annotations

from typing import Any

import grpc
from fundledger.snapshotter.v1 import snapshotter_pb2 as pb
from fundledger.snapshotter.v1 import snapshotter_pb2_grpc
from fundledger_platform.errors import InvalidArgument
from fundledger_platform.stream_ids import check_fund_id

from snapshotter.entrypoints import mappers as m
from snapshotter.service_layer.errors import fund_not_found
from snapshotter.service_layer.ports import EventLog, SnapshotStore
from snapshotter.service_layer.snapshots import SnapshotMaker, create_manual
from snapshotter.service_layer.time_travel import TimeTravel
from snapshotter.service_layer.timeline import timeline_page

_SNAPSHOTS_TOKEN = "s1"
_TIMELINE_TOKEN = "t1"

Context = grpc.aio.ServicerContext[Any, Any]


class SnapshotterServicer(snapshotter_pb2_grpc.SnapshotterServiceServicer):
    def __init__(
        self,
        events: EventLog,
        snapshots: SnapshotStore,
        maker: SnapshotMaker,
        time_travel: TimeTravel,
    ) -> None:
        self._events = events
        self._snapshots = snapshots
        self._maker = maker
        self._time_travel = time_travel

    async def CreateSnapshot(
        self, request: pb.CreateSnapshotRequest, context: Context
    ) -> pb.CreateSnapshotResponse:
        fund_id = check_fund_id(request.fund_id)
        at_version = request.at_version if request.HasField("at_version") else None
        snapshot = await create_manual(self._events, self._maker, fund_id, at_version)
        return pb.CreateSnapshotResponse(snapshot=m.snapshot(snapshot))

    async def GetFundStateAt(
        self, request: pb.GetFundStateAtRequest, context: Context
    ) -> pb.GetFundStateAtResponse:
        fund_id = check_fund_id(request.fund_id)
        target = request.WhichOneof("target")
        if target == "at_time":
            replay = await self._time_travel.at_time(fund_id, m.time_of(request.at_time, "at_time"))
        elif target == "at_version":
            replay = await self._time_travel.at_version(fund_id, request.at_version)
        else:
            raise InvalidArgument(
                "one of at_time or at_version is required", reason="TARGET_REQUIRED", field="target"
            )
        return m.state_response(replay)

    async def ListSnapshots(
        self, request: pb.ListSnapshotsRequest, context: Context
    ) -> pb.ListSnapshotsResponse:
        fund_id = check_fund_id(request.fund_id)
        size = m.page_size(request.page_size)
        cursor = m.decode_token(request.page_token, _SNAPSHOTS_TOKEN, 2)
        before = (cursor[0], cursor[1]) if cursor is not None else None
        rows = await self._snapshots.page(fund_id, before, size + 1)
        if not rows and before is None and await self._events.stream_info(fund_id) is None:
            # An empty first page is normal for a young fund; for a fund the
            # log has never heard of it is NOT_FOUND, as for the other RPCs.
            raise fund_not_found(fund_id)
        response = pb.ListSnapshotsResponse(snapshots=[m.snapshot(s) for s in rows[:size]])
        if len(rows) > size:
            last = rows[size - 1]
            response.next_page_token = m.encode_token(
                _SNAPSHOTS_TOKEN, last.version, last.fold_version
            )
        return response

    async def GetTimeline(
        self, request: pb.GetTimelineRequest, context: Context
    ) -> pb.GetTimelineResponse:
        fund_id = check_fund_id(request.fund_id)
        size = m.page_size(request.page_size)
        start, end = m.window(
            m.time_of(request.start_time, "start_time") if request.HasField("start_time") else None,
            m.time_of(request.end_time, "end_time") if request.HasField("end_time") else None,
        )
        cursor = m.decode_token(request.page_token, _TIMELINE_TOKEN, 1)
        page = await timeline_page(
            self._events, fund_id, start, end, size, cursor[0] if cursor is not None else None
        )
        response = pb.GetTimelineResponse(entries=[m.timeline_entry(e) for e in page.events])
        if page.next_version is not None:
            response.next_page_token = m.encode_token(_TIMELINE_TOKEN, page.next_version)
        return response
