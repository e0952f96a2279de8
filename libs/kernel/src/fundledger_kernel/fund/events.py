"""The fold's input: one stored event, its payload decoded and validated.

Services read events in different shapes (a gRPC message, an asyncpg row with jsonb as text, a
bus message with bytes); `decode_event` turns any of them into a FundEvent, so every consumer
decodes payloads the same way and the fold never sees raw JSON.

An event type that is not a fund event type gets `data=None` and its JSON is not even parsed: a
fund stream may carry events this code does not know (written by a newer service, or not a fund
event at all), and the fold must skip and count them, never fail on them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from fundledger_kernel.catalog import FUND_EVENT_TYPES, descriptor_of, enum_of, is_required_field
from fundledger_kernel.errors import PayloadError
from fundledger_kernel.fund_schemas import newest_schema_version, upcast
from fundledger_kernel.json_input import parse_json_object
from fundledger_kernel.validation import validate_fund_payload


@dataclass(frozen=True, slots=True)
class FundEvent:
    """One event of a fund stream, as the fold consumes it.

    `data` is the validated payload message for a fund event type (e.g. events_pb2.FundCreated
    for FUND_CREATED), in its newest schema shape, and None for any other type. `recorded_at`
    (when the log learnt of it) and `effective_at` (when it happened in business time; None is
    read as recorded_at) must be timezone-aware: instants, not wall-clock readings whose zone
    is guessed later.
    """

    event_type: str
    data: Message | None
    version: int
    recorded_at: datetime
    effective_at: datetime = None  # type: ignore[assignment]  # None -> recorded_at, below

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
        if self.effective_at is None:
            object.__setattr__(self, "effective_at", self.recorded_at)
        elif self.effective_at.utcoffset() is None:
            raise ValueError("effective_at must be timezone-aware")


def decode_event(
    event_type: str,
    data_json: bytes | str | Mapping[str, object],
    version: int,
    recorded_at: datetime,
    *,
    schema_version: int = 1,
    effective_at: datetime | None = None,
) -> FundEvent:
    """Build a FundEvent from a stored event's type, JSON data (raw or parsed) at its schema
    version, version and times. The payload is upcast to its type's newest shape.

    Raises PayloadError (naming the field) when a fund event's data does not match its schema.
    """
    if event_type not in FUND_EVENT_TYPES:
        return FundEvent(event_type, None, version, recorded_at, effective_at or recorded_at)
    data = _as_object(data_json)
    message = validate_fund_payload(event_type, data, schema_version)
    return FundEvent(event_type, message, version, recorded_at, effective_at or recorded_at)


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


# -- The trusted path: events read back from the event store ---------------------------------------

_FD = FieldDescriptor
_INT_RANGES: Mapping[int, tuple[int, int]] = {
    _FD.CPPTYPE_INT32: (-(2**31), 2**31 - 1),
    _FD.CPPTYPE_INT64: (-(2**63), 2**63 - 1),
    _FD.CPPTYPE_UINT32: (0, 2**32 - 1),
    _FD.CPPTYPE_UINT64: (0, 2**64 - 1),
}
# A field check of the fast path: None for a string, (low, high) for an integer, True for a bool,
# the value names for an enum.
_Check = tuple[int, int] | bool | frozenset[str] | None


@dataclass(frozen=True, slots=True)
class _FlatSchema:
    """A payload message whose fields are all singular integers, strings or bools."""

    message_type: type[Message]
    checks: Mapping[str, _Check]  # proto field name -> what its JSON value must be
    required: frozenset[str]


def _flat_schema(message_type: type[Message]) -> _FlatSchema | None:
    checks: dict[str, _Check] = {}
    required: set[str] = set()
    for field in descriptor_of(message_type).fields:
        if field.is_repeated or field.type == _FD.TYPE_BYTES:
            return None
        if field.cpp_type in _INT_RANGES:
            checks[field.name] = _INT_RANGES[field.cpp_type]
        elif field.cpp_type == _FD.CPPTYPE_STRING:
            checks[field.name] = None
        elif field.cpp_type == _FD.CPPTYPE_BOOL:
            checks[field.name] = True
        elif field.cpp_type == _FD.CPPTYPE_ENUM:
            checks[field.name] = frozenset(enum_of(field).values_by_name)
        else:  # nested messages, floats: the strict path only
            return None
        if is_required_field(field):
            required.add(field.name)
    return _FlatSchema(message_type, checks, frozenset(required))


_FLAT: Mapping[str, _FlatSchema] = {
    event_type: schema
    for event_type, message_type in FUND_EVENT_TYPES.items()
    if (schema := _flat_schema(message_type)) is not None
}


class _NotPlain(Exception):
    """The payload needs the strict path (here: a duplicate key)."""


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _NotPlain
    return result


def _fast_payload(
    schema: _FlatSchema, raw: bytes | str, event_type: str, schema_version: int
) -> Message | None:
    """The payload message, or None when anything about it needs the strict path.

    Accepts only what the strict path accepts and builds the same message from it: UTF-8 text
    without a byte-order mark or \\u escapes, one JSON object with distinct keys, every key a
    proto field name, every value of exactly its field's JSON type and range (an enum: one of
    its value names), every required field present once upcast to the newest version. Anything
    else (camelCase keys, integers as strings, nulls, floats, ...) is left to the strict path,
    which accepts or refuses it with its usual error.
    """
    try:
        if isinstance(raw, str):
            text = raw
            text.encode("utf-8")  # a lone surrogate: the strict path refuses it
        else:
            text = raw.decode("utf-8")
        if "\\u" in text or text.startswith("\ufeff"):
            return None
        data = json.loads(text, object_pairs_hook=_unique_keys)
    except (ValueError, _NotPlain, RecursionError):
        return None
    if type(data) is not dict:
        return None
    if (schema_version or 1) != newest_schema_version(event_type):
        try:
            data = dict(upcast(event_type, schema_version, data))
        except PayloadError:
            return None  # the strict path raises the same error
    if not schema.required.issubset(data):
        return None
    checks = schema.checks
    for key, value in data.items():
        if key not in checks:
            return None
        check = checks[key]
        if check is None:
            if type(value) is not str:
                return None
        elif check is True:
            if type(value) is not bool:
                return None
        elif type(check) is frozenset:
            if type(value) is not str or value not in check:
                return None
        elif type(value) is not int or not check[0] <= value <= check[1]:  # type: ignore[index]
            return None
    try:
        return schema.message_type(**data)
    except (ValueError, TypeError):  # not expected after the checks; the strict path decides
        return None


def decode_stored_event(
    event_type: str,
    data_json: bytes | str,
    version: int,
    recorded_at: datetime,
    *,
    schema_version: int = 1,
    effective_at: datetime | None = None,
) -> FundEvent:
    """decode_event for an event read back from the event store, which validated it on append.

    The same FundEvent as decode_event, and the same PayloadError for a payload it refuses, at a
    fraction of the cost for the usual payload: a plain JSON parse and a type check per field
    instead of the strict parser, the schema walk and json_format. Whatever the fast path is
    not sure about goes through decode_event itself.
    """
    schema = _FLAT.get(event_type)
    if schema is not None:
        message = _fast_payload(schema, data_json, event_type, schema_version)
        if message is not None:
            return FundEvent(event_type, message, version, recorded_at, effective_at or recorded_at)
    return decode_event(
        event_type,
        data_json,
        version,
        recorded_at,
        schema_version=schema_version,
        effective_at=effective_at,
    )
