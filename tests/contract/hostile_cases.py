"""Hostile requests, derived from the generated descriptors (libs/api), never from a list of RPCs.

`discover()` finds every service and method in the `fundledger` package's *_pb2 modules, so a new
RPC, or a new field of a request, is covered without touching this file. `field_cases()` walks a
request message and yields one case per (field, hostile value kind), chosen by the field's type:
one field hostile at a time, everything else as the base request has it. Nested messages
(events[0].data, metadata.owner_user_id) are walked too. Client-streaming RPCs also get their
messages out of order (`stream_orders()`).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from types import ModuleType

import fundledger
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message

_F = FieldDescriptor
MANY = 10_000  # elements of a repeated field, entries of a map

STRINGS: Sequence[tuple[str, str]] = (
    ("NUL", "a\x00b"),
    ("5000 characters", "x" * 5000),
    ("path traversal", "../../etc/passwd"),
    ("control characters", "a\r\n\t\x1b[2J\x7f\x85b"),
    ("bidi and zero-width", "a\u202e\u200bb"),
)
BYTES: Sequence[tuple[str, bytes]] = (
    ("invalid UTF-8", b"\xff\xfe\xfd"),
    ("empty", b""),
    ("JSON array", b"[1]"),
    ("JSON string", b'"x"'),
    ("JSON 1e309", b"1e309"),
    ("JSON duplicate keys", b'{"a":1,"a":2}'),
    ("JSON NUL escape", b'{"a":"\\u0000"}'),
    ("JSON lone surrogate", b'{"a":"\\ud800"}'),
    ("JSON nested 100000 deep", b'{"a":' * 100_000 + b"1" + b"}" * 100_000),
    # Fund payloads (the base event is a fund event, CAPITAL_CALLED).
    ("fund payload float", b'{"amount_cents":1.5}'),
    ("fund payload beyond int64", b'{"amount_cents":9223372036854775808}'),
    ("fund payload duplicate key", b'{"amount_cents":1,"amount_cents":2}'),
    ("fund payload both spellings", b'{"amount_cents":1,"amountCents":2}'),
    ("fund payload numeric string", b'{"amount_cents":"1e3"}'),
)
_INT32 = (("-1", -1), ("int32 min", -(2**31)), ("int32 max", 2**31 - 1))
_INT64 = (("-1", -1), ("int64 min", -(2**63)), ("int64 max", 2**63 - 1))
INTEGERS: dict[int, Sequence[tuple[str, int]]] = {
    _F.CPPTYPE_INT32: _INT32,
    _F.CPPTYPE_INT64: _INT64,
    _F.CPPTYPE_UINT32: (("uint32 max", 2**32 - 1),),
    _F.CPPTYPE_UINT64: (("uint64 max", 2**64 - 1),),
}
ENUMS: Sequence[tuple[str, int]] = (("unknown enum 99", 99), ("unknown enum -1", -1))
FLOATS: Sequence[tuple[str, float]] = (("NaN", float("nan")), ("infinity", float("inf")))
# (seconds, nanos): protobuf's range is 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999999Z.
TIMESTAMPS: Sequence[tuple[str, tuple[int, int]]] = (
    ("year 1", (-62_135_596_800, 0)),
    ("year 9999", (253_402_300_799, 999_999_999)),
    ("negative seconds", (-1, 0)),
    ("negative nanos", (0, -1)),
    ("nanos of 1 s", (0, 1_000_000_000)),
    ("before year 1", (-62_135_596_801, 0)),
    ("after year 9999", (253_402_300_800, 0)),
    ("int64 max seconds", (2**63 - 1, 0)),
)
MAPS: Sequence[tuple[str, dict[str, str]]] = (
    ("NUL key", {"a\x00b": "v"}),
    ("NUL value", {"k": "a\x00b"}),
    ("5000-character key", {"k" * 5000: "v"}),
    ("5000-character value", {"k": "v" * 5000}),
    ("control characters", {"a\r\n": "\x1b[2J"}),
    ("path traversal", {"../../etc/passwd": "../.."}),
    (f"{MANY} entries", {f"k{i}": "v" for i in range(MANY)}),
)

Mutate = Callable[[Message], None]
Locate = Callable[[Message], Message]


@dataclass(frozen=True)
class Rpc:
    service: str  # full name, e.g. fundledger.eventstore.v1.EventStoreService
    method: MethodDescriptor

    @property
    def name(self) -> str:
        return f"{self.service.rsplit('.', 1)[-1]}.{self.method.name}"

    @property
    def path(self) -> str:
        return f"/{self.service}/{self.method.name}"


@dataclass(frozen=True)
class Case:
    field: str  # events[0].data, metadata.owner_user_id, categories[0], …
    kind: str  # NUL, int64 max, year 9999, …
    mutate: Mutate


def _pb2_modules() -> Iterator[ModuleType]:
    for info in pkgutil.walk_packages(fundledger.__path__, "fundledger."):
        if info.name.endswith("_pb2"):
            yield importlib.import_module(info.name)


def discover() -> dict[str, list[Rpc]]:
    """Every service of the API with its methods, from the generated descriptors."""
    services: dict[str, list[Rpc]] = {}
    for module in _pb2_modules():
        for service in module.DESCRIPTOR.services_by_name.values():
            services[service.full_name] = [Rpc(service.full_name, m) for m in service.methods]
    return dict(sorted(services.items()))


def is_map(field: FieldDescriptor) -> bool:
    nested = field.message_type
    return nested is not None and nested.GetOptions().map_entry


def is_timestamp(field: FieldDescriptor) -> bool:
    nested = field.message_type
    return nested is not None and nested.full_name == "google.protobuf.Timestamp"


def real_oneof(field: FieldDescriptor) -> str | None:
    """The oneof a field belongs to, ignoring proto3 `optional`'s synthetic one-field oneofs."""
    oneof = field.containing_oneof
    if oneof is None or (len(oneof.fields) == 1 and oneof.name == f"_{field.name}"):
        return None
    return str(oneof.name)


def _root(message: Message) -> Message:
    return message


def _child(locate: Locate, name: str, message: Message) -> Message:
    child: Message = getattr(locate(message), name)
    return child


def _first_element(locate: Locate, name: str, message: Message) -> Message:
    elements = getattr(locate(message), name)
    if not elements:
        elements.add()
    first: Message = elements[0]
    return first


def _set(locate: Locate, name: str, value: object, message: Message) -> None:
    setattr(locate(message), name, value)


def _set_list(locate: Locate, name: str, values: Sequence[object], message: Message) -> None:
    target = getattr(locate(message), name)
    del target[:]
    target.extend(values)


def _set_map(locate: Locate, name: str, entries: dict[str, str], message: Message) -> None:
    target = getattr(locate(message), name)
    target.clear()
    target.update(entries)


def _set_timestamp(locate: Locate, name: str, stamp: tuple[int, int], message: Message) -> None:
    target = getattr(locate(message), name)
    target.seconds, target.nanos = stamp


def _many_messages(locate: Locate, name: str, message: Message) -> None:
    elements = getattr(locate(message), name)
    template = elements[0] if elements else None
    while len(elements) < MANY:
        added = elements.add()
        if template is not None:
            added.CopyFrom(template)


def _scalar_values(field: FieldDescriptor) -> Sequence[tuple[str, object]]:
    if field.type == _F.TYPE_STRING:
        return STRINGS
    if field.type == _F.TYPE_BYTES:
        return BYTES
    if field.type == _F.TYPE_ENUM:
        return ENUMS
    if field.cpp_type in INTEGERS:
        return INTEGERS[field.cpp_type]
    if field.cpp_type in (_F.CPPTYPE_DOUBLE, _F.CPPTYPE_FLOAT):
        return FLOATS
    return ()  # bool: nothing hostile about it


def _element(field: FieldDescriptor) -> object:
    """A harmless element of a repeated scalar field, to make it long."""
    if field.type == _F.TYPE_STRING:
        return "x"
    if field.type == _F.TYPE_BYTES:
        return b"x"
    return 0


def field_cases(
    descriptor: Descriptor,
    prefix: str = "",
    locate: Locate = _root,
    within: frozenset[str] = frozenset(),
) -> Iterator[Case]:
    """One case per field of `descriptor` (recursively) and hostile value of its type."""
    if descriptor.full_name in within:  # a recursive message: its fields were walked above
        return
    within = within | {descriptor.full_name}
    for field in descriptor.fields:
        path, name = f"{prefix}{field.name}", field.name
        if is_map(field):
            for kind, entries in MAPS:
                yield Case(path, kind, partial(_set_map, locate, name, entries))
        elif is_timestamp(field) and not field.is_repeated:
            for kind, stamp in TIMESTAMPS:
                yield Case(path, kind, partial(_set_timestamp, locate, name, stamp))
        elif field.message_type is not None:
            if field.is_repeated:
                yield Case(path, f"{MANY} elements", partial(_many_messages, locate, name))
                inner: Locate = partial(_first_element, locate, name)
                yield from field_cases(field.message_type, f"{path}[0].", inner, within)
            else:
                child: Locate = partial(_child, locate, name)
                yield from field_cases(field.message_type, f"{path}.", child, within)
        elif field.is_repeated:
            many = [_element(field)] * MANY
            yield Case(path, f"{MANY} elements", partial(_set_list, locate, name, many))
            for kind, value in _scalar_values(field):
                yield Case(f"{path}[0]", kind, partial(_set_list, locate, name, [value]))
        else:
            for kind, value in _scalar_values(field):
                yield Case(path, kind, partial(_set, locate, name, value))


@dataclass(frozen=True)
class StreamOrder:
    kind: str
    members: tuple[str | None, ...]  # oneof member per message; None: a message with none set


def stream_orders(descriptor: Descriptor) -> list[StreamOrder]:
    """Messages of a client stream out of order, for a request whose content is a oneof: the
    contract is its first member once, first, then only the others."""
    for oneof in descriptor.oneofs:
        names = [f.name for f in oneof.fields]
        if len(names) < 2 or real_oneof(oneof.fields[0]) is None:
            continue
        first, second = names[0], names[1]
        return [
            StreamOrder(f"{second} before {first}", (second, first)),
            StreamOrder(f"{first} twice", (first, first, second)),
            StreamOrder(f"{first} after {second}", (first, second, first)),
            StreamOrder(f"{second} only", (second,)),
            StreamOrder("empty stream", ()),
            StreamOrder("a message with neither", (None,)),
            StreamOrder(f"{first}, then a message with neither", (first, None)),
        ]
    return []
