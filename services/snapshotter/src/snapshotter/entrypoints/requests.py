"""Request fields the servicer reads: timestamps, time windows, page sizes and page tokens.

Page tokens use the platform's one codec; each RPC (and each timeline clock) has its own kind and
the query is the scope (the fund; for the timeline also its clock and window), so a token of
ListSnapshots, of another fund, order or window, is refused rather than misread.
"""

from __future__ import annotations

from datetime import datetime

from fundledger.snapshotter.v1 import snapshotter_pb2 as pb
from fundledger_platform.errors import InvalidArgument
from fundledger_platform.fields import malformed, time_window, timestamp
from fundledger_platform.pagination import decode_page_token, encode_page_token, integers
from fundledger_platform.reasons import Reason
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from snapshotter.domain.model import Snapshot
from snapshotter.domain.timeline import EffectiveKey
from snapshotter.service_layer.timeline import Order

SNAPSHOTS_PAGE = "s1"
# Timeline tokens name their clock: a RECORDED token is refused by an EFFECTIVE request.
TIMELINE_PAGE = "t2"
EFFECTIVE_PAGE = "te1"


def time_of(ts: Timestamp, field: str) -> datetime:
    """FIELD_MALFORMED outside 0001-01-01 .. 9999-12-31 (the platform's one check)."""
    return timestamp(ts, field)


def required_time(request: Message, field: str) -> datetime:
    """A Timestamp field the RPC cannot answer without: FIELD_REQUIRED when unset."""
    if not request.HasField(field):
        raise InvalidArgument(f"{field}: required", reason=Reason.FIELD_REQUIRED, field=field)
    value: Timestamp = getattr(request, field)
    return time_of(value, field)


def known_times_in_order(before: datetime, after: datetime) -> None:
    """A restatement compares an earlier known time with a later one (unset: now)."""
    if after < before:
        raise InvalidArgument(
            "known_at_after: must not be before known_at_before (unset: now)",
            reason=Reason.TIME_RANGE_INVALID,
            field="known_at_after",
        )


def window(start: datetime | None, end: datetime | None) -> tuple[datetime | None, datetime | None]:
    return time_window(start, end, end_field="end_time")


def snapshots_after(token: str, fund_id: str) -> tuple[int, int] | None:
    """The (version, fold version) a ListSnapshots page continues below; None on the first."""
    cursor = decode_page_token(token, SNAPSHOTS_PAGE, integers(2), scope=fund_id)
    return None if cursor is None else (cursor[0], cursor[1])


def snapshots_token(last: Snapshot) -> str:
    return encode_page_token(SNAPSHOTS_PAGE, (last.version, last.fold_version), scope=last.fund_id)


def timeline_order(value: int) -> Order:
    """The clock a timeline is windowed and ordered by; unset is RECORDED."""
    if value in (pb.TIMELINE_ORDER_UNSPECIFIED, pb.TIMELINE_ORDER_RECORDED):
        return Order.RECORDED
    if value == pb.TIMELINE_ORDER_EFFECTIVE:
        return Order.EFFECTIVE
    raise malformed("order", f"unknown timeline order {value}")


def timeline_scope(fund_id: str, order: Order, start: datetime | None, end: datetime | None) -> str:
    """What a timeline token is bound to: the fund, the clock and the window. A token used
    with another order or window would page a different sequence from a foreign cursor."""
    bounds = [t.isoformat() if t is not None else "" for t in (start, end)]
    return "|".join([fund_id, order.value, *bounds])


def timeline_from(token: str, scope: str) -> int | None:
    """The version a RECORDED GetTimeline page starts at (newest first); None on the first."""
    cursor = decode_page_token(token, TIMELINE_PAGE, integers(1), scope=scope)
    return None if cursor is None else cursor[0]


def timeline_token(scope: str, next_version: int) -> str:
    return encode_page_token(TIMELINE_PAGE, (next_version,), scope=scope)


def effective_from(token: str, scope: str) -> EffectiveKey | None:
    """The (effective_at, version) key an EFFECTIVE GetTimeline page starts at; None on the
    first."""
    cursor = decode_page_token(token, EFFECTIVE_PAGE, integers(2), scope=scope)
    return None if cursor is None else (cursor[0], cursor[1])


def effective_token(scope: str, key: EffectiveKey) -> str:
    return encode_page_token(EFFECTIVE_PAGE, key, scope=scope)
