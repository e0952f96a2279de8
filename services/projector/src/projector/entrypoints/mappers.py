"""Use-case results into ProjectorService responses."""

from __future__ import annotations

from fundledger.projector.v1 import projector_pb2 as pb
from fundledger_kernel.fund import FundState, state_to_proto

from projector.domain.model import FundHead
from projector.entrypoints.requests import funds_token
from projector.service_layer.listing import FundPage
from projector.service_layer.rebuild import RebuildResult
from projector.service_layer.status import ProjectionStatus


def fund_state_response(head: FundHead, state: FundState) -> pb.GetFundStateResponse:
    response = pb.GetFundStateResponse(state=state_to_proto(state), position=head.position)
    response.updated_time.FromDatetime(head.updated_at)
    return response


def list_funds_response(page: FundPage) -> pb.ListFundsResponse:
    response = pb.ListFundsResponse()
    for fund in page.funds:
        summary = response.funds.add(
            fund_id=fund.fund_id,
            name=fund.name,
            version=fund.version,
            committed_cents=fund.committed_cents,
        )
        summary.updated_time.FromDatetime(fund.updated_at)
    if page.next_after is not None:
        response.next_page_token = funds_token(page.next_after)
    return response


def status_response(status: ProjectionStatus) -> pb.GetProjectionStatusResponse:
    return pb.GetProjectionStatusResponse(
        projected_position=status.projected_position,
        log_head_position=status.log_head_position,
        lag_events=status.lag_events,
        lag_seconds=status.lag_seconds,
        fund_count=status.fund_count,
        rebuilding=status.rebuilding,
    )


def rebuild_response(result: RebuildResult) -> pb.RebuildProjectionResponse:
    return pb.RebuildProjectionResponse(
        fund_count=result.fund_count,
        events_replayed=result.events_replayed,
        position=result.position,
    )
