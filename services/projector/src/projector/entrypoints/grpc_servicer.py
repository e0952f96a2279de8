"""ProjectorService: checks the request, calls the use case, maps the result.

Domain errors raised below become gRPC statuses in the platform's interceptor.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from fundledger.projector.v1 import projector_pb2 as pb
from fundledger.projector.v1 import projector_pb2_grpc
from fundledger_platform.auth.forwarding import as_service
from fundledger_platform.auth.tenancy import tenant_scope
from fundledger_platform.pagination import page_size
from fundledger_platform.stream_ids import check_fund_id

from projector.entrypoints import mappers as m
from projector.entrypoints import requests as r
from projector.service_layer.applier import Applier
from projector.service_layer.fund_state import FundStateReader
from projector.service_layer.listing import list_funds
from projector.service_layer.ports import ProjectionRows
from projector.service_layer.rebuild import Rebuilder
from projector.service_layer.status import ProjectionStatus
from projector.service_layer.tenant_rebuild import rebuild_tenant


class ProjectorServicer(projector_pb2_grpc.ProjectorServiceServicer):
    def __init__(
        self,
        states: FundStateReader[pb.GetFundStateResponse],
        rows: ProjectionRows,
        status: Callable[[], Awaitable[ProjectionStatus]],
        rebuilder: Rebuilder,
        applier: Applier,
        *,
        max_wait_seconds: float,
    ) -> None:
        self._states = states
        self._rows = rows
        self._status = status
        self._rebuilder = rebuilder
        self._applier = applier
        self._max_wait = max_wait_seconds

    async def GetFundState(
        self, request: pb.GetFundStateRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.GetFundStateResponse:
        fund_id = check_fund_id(request.fund_id)
        min_version = r.min_version(request.min_version)
        budget = r.wait_budget(context.time_remaining(), self._max_wait)
        return await self._states.get(fund_id, min_version, budget_seconds=budget)

    async def ListFunds(
        self, request: pb.ListFundsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ListFundsResponse:
        size = page_size(request.page_size)
        after = r.funds_after(request.page_token)
        return m.list_funds_response(await list_funds(self._rows, after, size))

    async def GetProjectionStatus(
        self, request: pb.GetProjectionStatusRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.GetProjectionStatusResponse:
        # The lag is read from the log as the projector's own job (it follows the whole log),
        # not as the caller: a viewer may read the status but not subscribe to the log. Only
        # figures leave; the fund count is still the caller's tenant's (rows.count()).
        with as_service():
            status = await self._status()
        return m.status_response(status)

    async def RebuildProjection(
        self, request: pb.RebuildProjectionRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.RebuildProjectionResponse:
        # A caller bound to a tenant rebuilds only its funds (tenant_rebuild.py).
        if tenant_scope() is not None:
            return m.rebuild_response(await rebuild_tenant(self._applier, self._rows))
        return m.rebuild_response(await self._rebuilder.rebuild())
