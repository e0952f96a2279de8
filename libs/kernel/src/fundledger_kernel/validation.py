"""Validation of fund event payloads against their protobuf messages.

`json_format.ParseDict` alone is too lenient for a ledger: it takes 100.0 and "123" for an int64,
and proto3 cannot tell an absent field from a zero one. So the raw JSON is walked against the
message descriptor first, which also lets every error name the exact field
(`data.changes[1].to_cents`); ParseDict then builds the message.

Only the payload's shape is checked here. Business rules (e.g. no negative amounts) belong to the
services that own them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import cache

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from fundledger_kernel.catalog import FUND_EVENT_TYPES, descriptor_of, enum_of, is_required_field
from fundledger_kernel.errors import PayloadError, describe_value
from fundledger_kernel.fund_schemas import upcast
from fundledger_kernel.paths import index_path, key_path

_FD = FieldDescriptor
_INTEGER_RANGES: Mapping[int, tuple[str, int, int]] = {
    _FD.CPPTYPE_INT32: ("int32", -(2**31), 2**31 - 1),
    _FD.CPPTYPE_INT64: ("int64", -(2**63), 2**63 - 1),
    _FD.CPPTYPE_UINT32: ("uint32", 0, 2**32 - 1),
    _FD.CPPTYPE_UINT64: ("uint64", 0, 2**64 - 1),
}
# Integer fields say what they count, so a caller sending 10.5 learns that cents are meant.
_INTEGER_UNITS = (("_cents", "cents"), ("_bps", "basis points"), ("_bytes", "bytes"))


MAX_AMOUNT_CENTS = 2**53 - 1
"""The largest amount (in magnitude) a *new* fund event may carry in a money (``*_cents``) field.

Why a bound below int64: a fund's figures are sums of its events' amounts, and the wire carries
them as int64, so amounts near 2**63 let two appends make a state no reader can be given. This
bound (about 90 trillion units) is far above any real fund and leaves room for 1,024 events at the
bound before a sum can overflow. It is also the largest integer JSON carries exactly to clients
that read numbers as doubles (I-JSON, RFC 7493). Only appends are held to it: events already
stored are read as they are."""


def validate_new_fund_payload(
    event_type: str, data: Mapping[str, object], schema_version: int = 1
) -> Message:
    """validate_fund_payload for an event about to be appended: also every ``*_cents`` amount
    within +/- MAX_AMOUNT_CENTS, and no required enum given as its UNSPECIFIED zero (an upcast
    may fill one in for an old version, a new payload must say). Raises PayloadError naming the
    field."""
    message_type = FUND_EVENT_TYPES.get(event_type)
    if message_type is not None and isinstance(data, Mapping):
        _check_required_enums(data, descriptor_of(message_type))
    message = validate_fund_payload(event_type, data, schema_version)
    _check_amounts(message, "data")
    return message


def _check_required_enums(data: Mapping[str, object], descriptor: Descriptor) -> None:
    known = _fields_by_key(descriptor)
    for key, value in data.items():
        field = known.get(key) if isinstance(key, str) else None
        if field is None or field.cpp_type != _FD.CPPTYPE_ENUM or not is_required_field(field):
            continue
        zero = enum_of(field).values_by_number[0].name
        if value in (0, zero):
            raise PayloadError(key_path("data", key), f"must name a value, not {zero}")


def _check_amounts(message: Message, path: str) -> None:
    for field, value in message.ListFields():
        where = key_path(path, field.name)
        nested = field.message_type
        if nested is not None and nested.GetOptions().map_entry:
            for key, member in value.items():
                # The map's own name says what its values count (``…_cents``).
                _check_amount_value(member, key_path(where, str(key)), field.name)
        elif field.is_repeated:
            for index, item in enumerate(value):
                _check_amount_value(item, index_path(where, index), field.name)
        else:
            _check_amount_value(value, where, field.name)


def _check_amount_value(value: object, path: str, name: str) -> None:
    if isinstance(value, Message):
        # Well-known types (Timestamp, ...) carry no amounts.
        if not value.DESCRIPTOR.full_name.startswith("google.protobuf."):
            _check_amounts(value, path)
    elif name.endswith("_cents") and isinstance(value, int) and abs(value) > MAX_AMOUNT_CENTS:
        raise PayloadError(
            path,
            f"is beyond the largest amount a fund event may carry"
            f" (-{MAX_AMOUNT_CENTS} to {MAX_AMOUNT_CENTS} cents), got {describe_value(value)}",
        )


def validate_fund_payload(
    event_type: str, data: Mapping[str, object], schema_version: int = 1
) -> Message:
    """Check `data` (an event's JSON data at `schema_version`; 0 is read as 1) against
    `event_type`'s message and return the message, in the type's newest shape.

    The payload is upcast to the newest schema version first (fund_schemas), so an old payload
    yields the message a new one would. Raises PayloadError naming the field for an unknown
    field, a missing or null required field, a value of the wrong JSON type (a float or a
    numeric string where an integer is expected), an integer out of its field's range, an
    unknown enum name, or a schema version this kernel does not know.
    """
    message_type = FUND_EVENT_TYPES.get(event_type)
    if message_type is None:
        raise PayloadError("event_type", f"{json.dumps(event_type)} is not a fund event type")
    if not isinstance(data, Mapping):
        raise PayloadError("data", f"must be a JSON object, got {describe_value(data)}")
    data = upcast(event_type, schema_version, data)
    _check_message(data, descriptor_of(message_type), "data", event_type)
    try:
        return json_format.ParseDict(dict(data), message_type())
    except json_format.ParseError as exc:
        # Unreachable for the shapes the walk checks; kept so nothing escapes as a bare error.
        raise PayloadError("data", str(exc)) from None


@cache
def _fields_by_key(descriptor: Descriptor) -> Mapping[str, FieldDescriptor]:
    # ParseDict accepts both spellings: committedCapitalCents and committed_capital_cents.
    fields: dict[str, FieldDescriptor] = {}
    for field in descriptor.fields:
        fields[field.name] = field
        fields[field.json_name] = field
    return fields


def _check_message(value: object, descriptor: Descriptor, path: str, label: str) -> None:
    if not isinstance(value, Mapping):
        raise PayloadError(path, f"must be a JSON object, got {describe_value(value)}")
    if not all(isinstance(key, str) for key in value):
        raise PayloadError(path, "object keys must be strings")
    known = _fields_by_key(descriptor)
    given: dict[str, str] = {}  # field name -> the key the caller used for it
    # Sorted, and unknown keys before anything else, so the error reported for a payload does
    # not depend on its key order and a misspelt key is named as such, not as a missing field.
    for key in sorted(value):
        field = known.get(key)
        if field is None:
            raise PayloadError(key_path(path, key), f"unknown field for {label}")
        if field.name in given:
            raise PayloadError(
                key_path(path, key), f"same field as {given[field.name]}; give it only once"
            )
        given[field.name] = key
    for field in descriptor.fields:
        key = given.get(field.name, field.name)
        member = value.get(key)
        if member is None:  # absent, or null: proto3 JSON reads null as "not set"
            if is_required_field(field):
                raise PayloadError(key_path(path, key), "required field is missing")
            continue
        _check_field(field, member, key_path(path, key))


def _check_field(field: FieldDescriptor, value: object, path: str) -> None:
    nested = field.message_type
    if nested is not None and nested.GetOptions().map_entry:
        if not isinstance(value, Mapping):
            raise PayloadError(path, f"must be a JSON object, got {describe_value(value)}")
        value_field = nested.fields_by_name["value"]
        for key, member in value.items():
            _check_element(value_field, member, key_path(path, str(key)))
    elif field.is_repeated:
        if not isinstance(value, list):
            raise PayloadError(path, f"must be a JSON array, got {describe_value(value)}")
        for index, item in enumerate(value):
            _check_element(field, item, index_path(path, index))
    else:
        _check_single(field, value, path)


def _check_element(field: FieldDescriptor, value: object, path: str) -> None:
    if value is None:  # inside an array or map, null has no "not set" meaning
        raise PayloadError(path, "must not be null")
    _check_single(field, value, path)


def _check_single(field: FieldDescriptor, value: object, path: str) -> None:
    cpp_type = field.cpp_type
    if cpp_type in _INTEGER_RANGES:
        _check_integer(field, value, path)
    elif cpp_type == _FD.CPPTYPE_MESSAGE:
        nested = field.message_type
        # Well-known types (Timestamp, Struct, ...) have their own JSON forms; ParseDict knows them.
        if nested is not None and not nested.full_name.startswith("google.protobuf."):
            _check_message(value, nested, path, nested.name)
    elif cpp_type == _FD.CPPTYPE_STRING:  # also bytes, whose JSON form is a base64 string
        _expect(isinstance(value, str), "a string", value, path)
    elif cpp_type == _FD.CPPTYPE_BOOL:
        _expect(isinstance(value, bool), "true or false", value, path)
    elif cpp_type in (_FD.CPPTYPE_DOUBLE, _FD.CPPTYPE_FLOAT):
        _expect(_is_number(value), "a number", value, path)
    elif cpp_type == _FD.CPPTYPE_ENUM:
        _check_enum(field, value, path)


def _check_enum(field: FieldDescriptor, value: object, path: str) -> None:
    enum = enum_of(field)
    if isinstance(value, str) and value in enum.values_by_name:
        return
    if isinstance(value, int) and not isinstance(value, bool) and value in enum.values_by_number:
        return
    names = ", ".join(v.name for v in enum.values if v.number != 0)
    raise PayloadError(path, f"must be one of {names}, got {describe_value(value)}")


_DECIMAL_INTEGER = re.compile(r"-?(0|[1-9][0-9]{0,19})")


def _check_integer(field: FieldDescriptor, value: object, path: str) -> None:
    # bool is an int subclass in Python but not a JSON number, and floats (even 100.0) are
    # refused: money is integer cents. A string of decimal digits is accepted, because that
    # is how proto3's canonical JSON (json_format.MessageToJson) writes every int64.
    if isinstance(value, str) and _DECIMAL_INTEGER.fullmatch(value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise PayloadError(path, f"must be {_integer_kind(field)}, got {describe_value(value)}")
    type_name, low, high = _INTEGER_RANGES[field.cpp_type]
    if not low <= value <= high:
        raise PayloadError(
            path, f"is out of range for {type_name} ({low} to {high}), got {describe_value(value)}"
        )


def _integer_kind(field: FieldDescriptor) -> str:
    for suffix, unit in _INTEGER_UNITS:
        if field.name.endswith(suffix):
            return f"an integer number of {unit}"
    return "an integer"


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _expect(ok: bool, expected: str, value: object, path: str) -> None:
    if not ok:
        raise PayloadError(path, f"must be {expected}, got {describe_value(value)}")
