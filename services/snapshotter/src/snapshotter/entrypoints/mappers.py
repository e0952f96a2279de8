"""Proto <-> domain conversions, request-field checks and page tokens for the servicer."""

from __future__ import annotations

import base64
import binascii
import logging
from datetime import UTC, datetime

from fundledger.eventstore.v1.events_pb2 import RecordedEvent
from fundledger.snapshotter.v1 import snapshotter_pb2 as pb
from fundledger_kernel import FUND_EVENT_TYPES, PayloadError
from fundledger_kernel.fund import state_to_proto
from fundledger_platform.errors import InvalidArgument
from google.protobuf.any_pb2 import Any as AnyProto
from google.protobuf.timestamp_pb2 import Timestamp

from snapshotter.domain.model import Snapshot, Trigger
from snapshotter.domain.replay import Replay, to_fund_event

log = logging.getLogger(__name__)

MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100

_TRIGGERS = {
    Trigger.EVENT_COUNT: pb.SNAPSHOT_TRIGGER_EVENT_COUNT,
    Trigger.DAILY: pb.SNAPSHOT_TRIGGER_DAILY,
    Trigger.MANUAL: pb.SNAPSHOT_TRIGGER_MANUAL,
}


def timestamp(value: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def time_of(ts: Timestamp, field: str) -> datetime:
    try:
        return ts.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):  # seconds outside 0001-01-01 .. 9999-12-31
        raise InvalidArgument(
            f"{field} is not a valid timestamp", reason="INVALID_ARGUMENT", field=field
        ) from None


def snapshot(value: Snapshot) -> pb.Snapshot:
    message = pb.Snapshot(
        snapshot_id=str(value.snapshot_id),
        fund_id=value.fund_id,
        version=value.version,
        position=value.position,
        event_time=timestamp(value.event_time),
        fold_version=value.fold_version,
        trigger=_TRIGGERS[value.trigger],
        events_since_previous=value.events_since_previous,
    )
    if value.created_at is not None:
        message.create_time.CopyFrom(timestamp(value.created_at))
    return message


def state_response(replay: Replay) -> pb.GetFundStateAtResponse:
    response = pb.GetFundStateAtResponse(
        state=state_to_proto(replay.state),
        version=replay.state.version,
        events_replayed=replay.events_replayed,
    )
    if replay.base is not None:
        response.snapshot_id = str(replay.base.snapshot_id)
        response.snapshot_version = replay.base.version
    return response


def timeline_entry(event: RecordedEvent) -> pb.TimelineEntry:
    entry = pb.TimelineEntry(event=event)
    if event.event_type in FUND_EVENT_TYPES:
        try:
            data = to_fund_event(event).data
        except PayloadError as err:
            # The store validated it on append; if it still does not parse, show
            # the raw event rather than fail the caller's whole page.
            log.warning("%s v%d: payload not decodable: %s", event.stream_id, event.version, err)
            data = None
        if data is not None:
            payload = AnyProto()
            payload.Pack(data)
            entry.payload.CopyFrom(payload)
    return entry


def page_size(value: int) -> int:
    if value < 0:
        raise InvalidArgument(
            "page_size must not be negative", reason="INVALID_ARGUMENT", field="page_size"
        )
    return min(value or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def window(start: datetime | None, end: datetime | None) -> tuple[datetime | None, datetime | None]:
    if start is not None and end is not None and end < start:
        raise InvalidArgument(
            "end_time must not be before start_time", reason="INVALID_ARGUMENT", field="end_time"
        )
    return start, end


# Tokens are opaque to callers: a tagged, base64url'd list of integers, so a
# token from one RPC (or a hand-made one) is refused rather than misread.


def encode_token(tag: str, *numbers: int) -> str:
    raw = ":".join([tag, *(str(n) for n in numbers)])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_token(token: str, tag: str, count: int) -> tuple[int, ...] | None:
    """The numbers a token of kind `tag` carries; None for the first page."""
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        parts = raw.split(":")
        if parts[0] != tag or len(parts) != count + 1:
            raise ValueError(raw)
        numbers = tuple(int(part) for part in parts[1:])
        if any(n < 0 for n in numbers):
            raise ValueError(raw)
        return numbers
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidArgument(
            "page_token is not a token this RPC issued",
            reason="INVALID_PAGE_TOKEN",
            field="page_token",
        ) from None
