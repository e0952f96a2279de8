"""The fold's input: one stored event, its payload decoded and validated.

Services read events in different shapes (a gRPC message, an asyncpg row with jsonb as text, a
bus message with bytes); `decode_event` turns any of them into a FundEvent, so every consumer
decodes payloads the same way and the fold never sees raw JSON.

An event type that is not a fund event type gets `data=None` and its JSON is not even parsed: a
fund stream may carry events this code does not know (written by a newer service, or not a fund
event at all), and the fold must skip and count them, never fail on them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from google.protobuf.message import Message

from fundledger_kernel.catalog import FUND_EVENT_TYPES
from fundledger_kernel.errors import PayloadError
from fundledger_kernel.json_input import parse_json_object
from fundledger_kernel.validation import validate_fund_payload


@dataclass(frozen=True, slots=True)
class FundEvent:
    """One event of a fund stream, as the fold consumes it.

    `data` is the validated payload message for a fund event type (e.g. events_pb2.FundCreated
    for FUND_CREATED) and None for any other type. `recorded_at` must be timezone-aware: an
    instant, not a wall-clock reading whose zone is guessed later.
    """

    event_type: str
    data: Message | None
    version: int
    recorded_at: datetime

    def __post_init__(self) -> None:
        # Checked here, once, so a mismatched payload fails where the event is built, not deep
        # inside a replay where the fold would misread fields of the wrong message.
        expected = FUND_EVENT_TYPES.get(self.event_type)
        if expected is None:
            if self.data is not None:
                raise TypeError(f"{self.event_type} is not a fund event type; data must be None")
        elif not isinstance(self.data, expected):
            raise TypeError(
                f"{self.event_type} needs a {expected.__name__} payload,"
                f" got {type(self.data).__name__}"
            )
        if isinstance(self.version, bool) or not isinstance(self.version, int):
            raise TypeError(f"version must be an int, got {type(self.version).__name__}")
        if self.recorded_at.utcoffset() is None:
            raise ValueError("recorded_at must be timezone-aware")


def decode_event(
    event_type: str,
    data_json: bytes | str | Mapping[str, object],
    version: int,
    recorded_at: datetime,
) -> FundEvent:
    """Build a FundEvent from a stored event's type, JSON data (raw or parsed), version and time.

    Raises PayloadError (naming the field) when a fund event's data does not match its schema.
    """
    if event_type not in FUND_EVENT_TYPES:
        return FundEvent(event_type, None, version, recorded_at)
    data = _as_object(data_json)
    return FundEvent(event_type, validate_fund_payload(event_type, data), version, recorded_at)


def _as_object(data_json: bytes | str | Mapping[str, object]) -> Mapping[str, object]:
    # Raw JSON goes through the same strict parser as appends (duplicate keys, NaN, ... refused),
    # so a payload means the same thing to the fold as it did to the event store.
    if isinstance(data_json, str):
        # surrogatepass: a lone surrogate becomes bytes the parser refuses as invalid UTF-8,
        # a PayloadError like any other bad payload instead of a UnicodeEncodeError.
        return parse_json_object(data_json.encode("utf-8", "surrogatepass"), "data")
    if isinstance(data_json, bytes | bytearray | memoryview):
        return parse_json_object(bytes(data_json), "data")
    if isinstance(data_json, Mapping):
        return data_json
    raise PayloadError("data", f"must be JSON text or an object, got {type(data_json).__name__}")
