"""Request fields the servicer reads: timestamps, time windows, page sizes and page tokens.

Page tokens use the platform's one codec; each RPC has its own kind and the fund is the scope,
so a token of ListSnapshots, or of another fund, is refused rather than misread.
"""

from __future__ import annotations

from datetime import datetime

from fundledger_platform.fields import time_window, timestamp
from fundledger_platform.pagination import decode_page_token, encode_page_token, integers
from google.protobuf.timestamp_pb2 import Timestamp

from snapshotter.domain.model import Snapshot

SNAPSHOTS_PAGE = "s1"
TIMELINE_PAGE = "t1"


def time_of(ts: Timestamp, field: str) -> datetime:
    """FIELD_MALFORMED outside 0001-01-01 .. 9999-12-31 (the platform's one check)."""
    return timestamp(ts, field)


def window(start: datetime | None, end: datetime | None) -> tuple[datetime | None, datetime | None]:
    return time_window(start, end, end_field="end_time")


def snapshots_after(token: str, fund_id: str) -> tuple[int, int] | None:
    """The (version, fold version) a ListSnapshots page continues below; None on the first."""
    cursor = decode_page_token(token, SNAPSHOTS_PAGE, integers(2), scope=fund_id)
    return None if cursor is None else (cursor[0], cursor[1])


def snapshots_token(last: Snapshot) -> str:
    return encode_page_token(SNAPSHOTS_PAGE, (last.version, last.fold_version), scope=last.fund_id)


def timeline_from(token: str, fund_id: str) -> int | None:
    """The version a GetTimeline page starts at (newest first); None on the first."""
    cursor = decode_page_token(token, TIMELINE_PAGE, integers(1), scope=fund_id)
    return None if cursor is None else cursor[0]


def timeline_token(fund_id: str, next_version: int) -> str:
    return encode_page_token(TIMELINE_PAGE, (next_version,), scope=fund_id)
