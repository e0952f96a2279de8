"""ProjectorService: thin — checks fields, calls the adapters, maps the result.

Domain errors raised here become gRPC statuses in the platform's interceptor.
"""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
import grpc
from fundledger.projector.v1 import projector_pb2 as pb
from fundledger.projector.v1 import projector_pb2_grpc
from fundledger_kernel.fund import FOLD_VERSION, FundState, StoredStateError
from fundledger_platform.errors import Unavailable
from fundledger_platform.stream_ids import check_fund_id

from projector.adapters.applier import Applier
from projector.adapters.apply_tx import GapNotFillableError
from projector.adapters.event_source import EventSource
from projector.adapters.fund_heads import FundHead, FundHeads
from projector.adapters.fund_rows import FundRow, FundRows
from projector.adapters.rebuild import Rebuilder
from projector.adapters.status import projection_status
from projector.adapters.waiters import VersionWaiters
from projector.entrypoints import mappers as m
from projector.entrypoints.response_cache import ResponseCache
from projector.service_layer.fund_state import fund_not_found, fund_row_at_least

log = logging.getLogger(__name__)


class ProjectorServicer(projector_pb2_grpc.ProjectorServiceServicer):
    def __init__(
        self,
        pool: asyncpg.Pool,
        source: EventSource,
        applier: Applier,
        waiters: VersionWaiters,
        rebuilder: Rebuilder,
        heads: FundHeads,
        *,
        wait_poll_seconds: float,
        max_wait_seconds: float,
        status_max_scan: int,
    ) -> None:
        self._pool = pool
        self._rows = FundRows(pool)
        self._heads = heads
        self._built = ResponseCache()
        self._source = source
        self._applier = applier
        self._waiters = waiters
        self._rebuilder = rebuilder
        self._poll = wait_poll_seconds
        self._max_wait = max_wait_seconds
        self._max_scan = status_max_scan

    async def GetFundState(
        self, request: pb.GetFundStateRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.GetFundStateResponse:
        fund_id = check_fund_id(request.fund_id)
        min_version = m.non_negative(request.min_version, "min_version")
        head = await fund_row_at_least(
            self._heads.get,
            self._waiters,
            fund_id,
            min_version,
            budget_seconds=m.wait_budget(context.time_remaining(), self._max_wait),
            poll_seconds=self._poll,
        )
        # The state at one version under one fold version never changes, so the
        # built response is reusable (and never modified: it is served as is);
        # building it (state to proto, exact ratios) was most of a call's CPU.
        built = self._built.get(fund_id, _key(head))
        if built is None:
            built = await self._build(head)
        return built

    async def _build(self, head: FundHead) -> pb.GetFundStateResponse:
        state = (
            self._applier.states.at(head.fund_id, head.version)
            if head.fold_version == FOLD_VERSION
            else None
        )
        if state is not None:
            # The state this process committed at that version: the row holds the same.
            built = m.fund_state_response(head.position, head.updated_at, state)
            self._built.put(head.fund_id, _key(head), built)
            return built
        row = await self._rows.get(head.fund_id)
        if row is None:  # rows are never deleted; only a concurrent down-migration
            raise fund_not_found(head.fund_id)
        row, state = await self._readable(row)
        built = m.fund_state_response(row.position, row.updated_at, state)
        self._built.put(row.fund_id, _key(row), built)
        return built

    async def _readable(self, row: FundRow) -> tuple[FundRow, FundState]:
        try:
            return row, row.state()
        except StoredStateError as err:
            # Written by another fold version (a rolling deploy) or damaged: fold
            # the stream again from the log, through the apply path, and serve that.
            log.warning("%s: stored state unusable (%s); refolding", row.fund_id, err)
            try:
                await self._applier.refold(row.fund_id)
            except (grpc.aio.AioRpcError, GapNotFillableError):
                # The log is needed to answer and cannot be read right now: a
                # retryable condition, not a bug.
                raise Unavailable(
                    f"fund {row.fund_id} must be folded again from the event store, "
                    "which did not answer",
                    reason="EVENT_STORE_UNAVAILABLE",
                    metadata={"fund_id": row.fund_id},
                ) from None
            fresh = await self._rows.get(row.fund_id)
            if fresh is None:  # rows are never deleted; only a concurrent down-migration
                raise fund_not_found(row.fund_id) from None
            return fresh, fresh.state()

    async def ListFunds(
        self, request: pb.ListFundsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ListFundsResponse:
        size = m.page_size(request.page_size)
        after = m.decode_token(request.page_token)
        rows = await self._rows.page(after, size + 1)
        response = pb.ListFundsResponse(
            funds=[m.fund_summary(row, _committed(row)) for row in rows[:size]]
        )
        if len(rows) > size:
            response.next_page_token = m.encode_token(rows[size - 1].fund_id)
        return response

    async def GetProjectionStatus(
        self, request: pb.GetProjectionStatusRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.GetProjectionStatusResponse:
        status = await projection_status(self._pool, self._rows, self._source, self._max_scan)
        return m.status_response(status)

    async def RebuildProjection(
        self, request: pb.RebuildProjectionRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.RebuildProjectionResponse:
        return m.rebuild_response(await self._rebuilder.rebuild())


def _key(row: FundHead | FundRow) -> tuple[int, int, int, object]:
    return (row.version, row.fold_version, row.position, row.updated_at)


def _committed(row: FundRow) -> int:
    try:
        return row.state().committed
    except StoredStateError:
        # A listing does not refold; GetFundState on this fund will.
        return 0
