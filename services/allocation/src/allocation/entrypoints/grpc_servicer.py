"""AllocationService: thin — checks fields, calls the use cases, maps the result.

Domain errors raised anywhere below become gRPC statuses in the platform's interceptor; nothing
here aborts by hand.
"""

from __future__ import annotations

from typing import Any

import grpc
from fundledger.allocation.v1 import allocation_pb2 as pb
from fundledger.allocation.v1 import allocation_pb2_grpc
from fundledger_platform.auth.tenancy import calling_user, require_self_or_act_for
from fundledger_platform.stream_ids import check_fund_id

from allocation.domain.thresholds import Thresholds
from allocation.entrypoints import mappers as m
from allocation.entrypoints import requests as r
from allocation.service_layer.audit_trail import audit_page
from allocation.service_layer.commit import CommitCommand, commit
from allocation.service_layer.fund_views import FundViews
from allocation.service_layer.ports import EventLog
from allocation.service_layer.preview import preview

Context = grpc.aio.ServicerContext[Any, Any]


class AllocationServicer(allocation_pb2_grpc.AllocationServiceServicer):
    def __init__(
        self, views: FundViews, events: EventLog, thresholds: Thresholds, max_proposals: int
    ) -> None:
        self._views = views
        self._events = events
        self._thresholds = thresholds
        self._max_proposals = max_proposals

    async def PreviewReallocation(
        self, request: pb.PreviewReallocationRequest, context: Context
    ) -> pb.PreviewReallocationResponse:
        fund_id = check_fund_id(request.fund_id)
        proposal = r.proposal_of(request.expected_version, request.proposals, self._max_proposals)
        plan = await preview(self._views, self._thresholds, fund_id, proposal)
        return m.preview_response(plan)

    async def CommitReallocation(
        self, request: pb.CommitReallocationRequest, context: Context
    ) -> pb.CommitReallocationResponse:
        named = r.check_user_id(request.user_id)
        command = CommitCommand(
            fund_id=check_fund_id(request.fund_id),
            proposal=r.proposal_of(
                request.expected_version, request.proposals, self._max_proposals
            ),
            reason=r.check_reason(request.reason),
            # The audit trail names the verified person, never the request field, which must
            # name them too unless they may act for others (PERMISSION_DENIED before anything
            # is read or written). Without a person (authentication off) the field is all
            # there is.
            user_id=calling_user() or named,
            idempotency_key=r.check_idempotency_key(request.idempotency_key),
        )
        require_self_or_act_for(named)
        result = await commit(self._views, self._events, self._thresholds, command)
        return m.commit_response(result)

    async def ListReallocationAudit(
        self, request: pb.ListReallocationAuditRequest, context: Context
    ) -> pb.ListReallocationAuditResponse:
        fund_id = check_fund_id(request.fund_id)
        query = r.audit_query(fund_id, request)
        page = await audit_page(self._views, fund_id, query.size, query.before)
        return m.audit_response(fund_id, page)
