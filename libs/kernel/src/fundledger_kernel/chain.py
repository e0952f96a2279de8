"""The hash chain of a stream (docs/event-store.md, "Hash chain"): the reference implementation.

Every event of a stream carries ``hash = SHA-256(previous hash || encoding of the event)``; the
first event's previous hash is ``SHA-256("fundledger.chain.v1:" || stream id)``. Editing,
removing or reordering any event changes the hash of every event from it on, so the chain
proves that a stream was not altered since its hashes were taken (and an anchor kept outside
the database proves the hashes themselves).

The event store computes the same chain in SQL, inside the append transaction
(services/event-store/migrations/0009_hash_chain.up.sql); a test holds the two equal. Anyone can
recompute it from what a reader sees, a RecordedEvent, in any language: the encoding below is
made of length-prefixed byte strings and fixed-width integers only, nothing to canonicalise.

The encoding, in this order (``text``: the 4-byte big-endian length of the UTF-8 bytes, then the
bytes; an absent text — NULL in the log, "" in a RecordedEvent — is the empty text, because no
reader can tell them apart; ``int``: 8-byte big-endian two's complement):

    text stream_id, int version, int position, text event_id (lower-case, hyphenated),
    text category, text event_type, int schema_version, text data (the JSON text as stored),
    metadata (4-byte big-endian count of pairs, then each pair ordered by the UTF-8 bytes of
    its key: text key, text value), text causation_id, text correlation_id, text user_id,
    text source, text tenant, text actor, int recorded_at, int effective_at
    (times in microseconds since 1970-01-01T00:00:00Z; effective_at = recorded_at when unset).

Pure: no I/O, no protobuf; callers map their own event type onto ``ChainEvent``.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

GENESIS_PREFIX = b"fundledger.chain.v1:"
HASH_BYTES = 32

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INT = struct.Struct(">q")
_LENGTH = struct.Struct(">I")


@dataclass(frozen=True, slots=True)
class ChainEvent:
    """What the chain covers of one event: every field a reader of the log sees."""

    stream_id: str
    version: int
    position: int
    event_id: str
    category: str
    event_type: str
    schema_version: int
    data: bytes  # the payload's JSON text (UTF-8) exactly as the log returns it
    recorded_at_us: int
    effective_at_us: int
    metadata: Mapping[str, str] = field(default_factory=dict)
    causation_id: str = ""
    correlation_id: str = ""
    user_id: str = ""
    source: str = ""
    tenant: str = ""
    actor: str = ""


def genesis(stream_id: str) -> bytes:
    """The previous hash of a stream's first event."""
    return hashlib.sha256(GENESIS_PREFIX + stream_id.encode()).digest()


def micros(at: datetime) -> int:
    """An aware time as whole microseconds since the Unix epoch (exact, no float)."""
    since = at - _EPOCH
    return (since.days * 86400 + since.seconds) * 1_000_000 + since.microseconds


def _text(value: str | bytes) -> bytes:
    raw = value if isinstance(value, bytes) else value.encode()
    return _LENGTH.pack(len(raw)) + raw


def encode(event: ChainEvent) -> bytes:
    """The event's canonical encoding (the module docstring gives the layout)."""
    pairs = sorted((k.encode(), v.encode()) for k, v in event.metadata.items())
    parts = [
        _text(event.stream_id),
        _INT.pack(event.version),
        _INT.pack(event.position),
        _text(event.event_id.lower()),
        _text(event.category),
        _text(event.event_type),
        _INT.pack(event.schema_version),
        _text(event.data),
        _LENGTH.pack(len(pairs)),
        *(_text(k) + _text(v) for k, v in pairs),
        _text(event.causation_id),
        _text(event.correlation_id),
        _text(event.user_id),
        _text(event.source),
        _text(event.tenant),
        _text(event.actor),
        _INT.pack(event.recorded_at_us),
        _INT.pack(event.effective_at_us),
    ]
    return b"".join(parts)


def link(previous: bytes, event: ChainEvent) -> bytes:
    """The event's hash: SHA-256(previous || encode(event))."""
    return hashlib.sha256(previous + encode(event)).digest()


def chain(stream_id: str, events: Iterable[ChainEvent], previous: bytes | None = None) -> bytes:
    """The hash of the last of ``events`` (consecutive versions of ``stream_id``), from
    ``previous`` (the hash before the first of them; the genesis hash when None)."""
    current = genesis(stream_id) if previous is None else previous
    for event in events:
        current = link(current, event)
    return current
