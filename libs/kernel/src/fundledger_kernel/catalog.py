"""The fund event catalog: each fund event type and its payload message.

Derived from events.proto rather than listed by hand: enum value FUND_EVENT_TYPE_FUND_CREATED
means event type FUND_CREATED with payload message FundCreated. Import fails if an enum value has
no message, so a new event type cannot reach the event store unvalidated.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import cast

from fundledger.fund.v1 import events_pb2, options_pb2
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor, FileDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

_ENUM_NAME = "FundEventType"
_PREFIX = "FUND_EVENT_TYPE_"


def _message_name(event_type: str) -> str:
    """FUND_CREATED -> FundCreated."""
    return "".join(word.capitalize() for word in event_type.split("_"))


def _build_catalog(file: FileDescriptor) -> Mapping[str, type[Message]]:
    catalog: dict[str, type[Message]] = {}
    problems: list[str] = []
    for value in file.enum_types_by_name[_ENUM_NAME].values:
        if value.number == 0:  # UNSPECIFIED: proto3's mandatory zero, not an event type
            continue
        if not value.name.startswith(_PREFIX):
            problems.append(f"{value.name} lacks the {_PREFIX} prefix")
            continue
        event_type = value.name.removeprefix(_PREFIX)
        descriptor = file.message_types_by_name.get(_message_name(event_type))
        if descriptor is None:
            problems.append(f"{value.name} has no message {_message_name(event_type)}")
            continue
        catalog[event_type] = GetMessageClass(descriptor)
    # A real check, not `assert`: it must also hold under `python -O`.
    if problems:
        raise RuntimeError(f"{_ENUM_NAME} in {file.name} is inconsistent: " + "; ".join(problems))
    return MappingProxyType(catalog)


FUND_EVENT_TYPES: Mapping[str, type[Message]] = _build_catalog(events_pb2.DESCRIPTOR)
"""Stored event type name (e.g. "FUND_CREATED") -> payload message class, in enum order."""


def is_fund_event(event_type: str) -> bool:
    """Whether `event_type` is a fund event type, whose payload must match its schema."""
    return event_type in FUND_EVENT_TYPES


def descriptor_of(message_type: type[Message]) -> Descriptor:
    """The descriptor of a message class.

    The stubs type `DESCRIPTOR` as either the pure-Python or the upb descriptor class; at run
    time `google.protobuf.descriptor.Descriptor` covers whichever is loaded, so the cast holds.
    """
    return cast(Descriptor, message_type.DESCRIPTOR)


def enum_of(field: FieldDescriptor) -> EnumDescriptor:
    """The enum type of an enum field."""
    if field.enum_type is None:
        raise TypeError(f"{field.full_name} is not an enum field")
    return field.enum_type


def is_required_field(field: FieldDescriptor) -> bool:
    """Whether `field` carries `(fundledger.fund.v1.required) = true`."""
    return bool(field.GetOptions().Extensions[options_pb2.required])


def required_fields(message_type: type[Message]) -> tuple[str, ...]:
    """Proto names of the fields a payload of `message_type` must contain, nested ones included.

    Fields of nested messages are dotted, with `[]` after a repeated field (`{}` after a map):
    ReallocationCommitted gives ("baseline_version", "new_version", "changes[].company_id", ...).
    A nested field is only required where its parent is present.
    """
    return tuple(_required_paths(descriptor_of(message_type), "", frozenset()))


def _required_paths(descriptor: Descriptor, prefix: str, outer: frozenset[str]) -> list[str]:
    paths: list[str] = []
    inside = outer | {descriptor.full_name}
    for field in descriptor.fields:
        path = prefix + field.name
        if is_required_field(field):
            paths.append(path)
        nested = field.message_type
        if nested is None or nested.full_name in inside:  # scalar, or a recursive message type
            continue
        if nested.GetOptions().map_entry:
            nested, path = nested.fields_by_name["value"].message_type, path + "{}"
            if nested is None or nested.full_name in inside:
                continue
        elif field.is_repeated:
            path += "[]"
        paths.extend(_required_paths(nested, path + ".", inside))
    return paths
