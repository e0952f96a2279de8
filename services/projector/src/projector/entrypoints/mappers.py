"""Proto <-> domain conversions and request-field checks for the servicer."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

from fundledger.projector.v1 import projector_pb2 as pb
from fundledger_kernel.fund import FundState, state_to_proto
from fundledger_kernel.streams import is_fund_id
from fundledger_platform.errors import InvalidArgument

from projector.adapters.fund_rows import FundRow
from projector.adapters.rebuild import RebuildResult
from projector.adapters.status import ProjectionStatus

MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100
_TOKEN_PREFIX = "f1"

# GetFundState answers this long before the caller's deadline (at most), so the
# caller receives DEADLINE_EXCEEDED with our details instead of its own bare one.
MAX_DEADLINE_MARGIN_SECONDS = 0.5
DEADLINE_MARGIN_FRACTION = 0.2


def non_negative(value: int, field: str) -> int:
    if value < 0:
        raise InvalidArgument(
            f"{field}: must not be negative", reason="INVALID_ARGUMENT", field=field
        )
    return value


def page_size(value: int, field: str = "page_size") -> int:
    return min(non_negative(value, field) or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def wait_budget(time_remaining: float | None, max_wait_seconds: float) -> float:
    """How long GetFundState may wait: the call's remaining time less a margin."""
    if time_remaining is None:
        return max_wait_seconds
    margin = min(MAX_DEADLINE_MARGIN_SECONDS, time_remaining * DEADLINE_MARGIN_FRACTION)
    return max(0.0, min(time_remaining - margin, max_wait_seconds))


def encode_token(fund_id: str) -> str:
    raw = f"{_TOKEN_PREFIX}:{fund_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str, field: str = "page_token") -> str | None:
    """The fund id a page token continues after; None for the first page."""
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raw = ""
    prefix, _, fund_id = raw.partition(":")
    if prefix != _TOKEN_PREFIX or not is_fund_id(fund_id):
        raise InvalidArgument(
            f"{field}: not a token this service issued", reason="INVALID_PAGE_TOKEN", field=field
        )
    return fund_id


def fund_state_response(
    position: int, updated_at: datetime, state: FundState
) -> pb.GetFundStateResponse:
    response = pb.GetFundStateResponse(state=state_to_proto(state), position=position)
    response.updated_time.FromDatetime(updated_at)
    return response


def fund_summary(row: FundRow, committed_cents: int) -> pb.FundSummary:
    summary = pb.FundSummary(
        fund_id=row.fund_id, name=row.name, version=row.version, committed_cents=committed_cents
    )
    summary.updated_time.FromDatetime(row.updated_at)
    return summary


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
