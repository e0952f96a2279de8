"""Log rows to the wire form (RecordedEvent), shared by reads, Subscribe and the relay.

Every read pays this per event, so it is written for speed (micro-benchmark, pages of 1000 real
rows: ~4.4 µs per event with distinct metadata and times, ~2.2–2.5 µs when consecutive events
share them, against ~7.3 µs for the plain form — keyword lookups, ``json.loads``, a map set from
a dict and ``Timestamp.FromDatetime`` per event, and a copy of each event into its page):
- rows are unpacked by position, in the order of ``COLUMNS`` (every query feeding this selects
  them in that order; tests/unit/test_pages.py checks the relay's query too);
- the metadata JSON and the time are converted once for a run of events sharing them (the
  events of one append share both, those of one commit group their time), the time by
  arithmetic (``FromDatetime`` costs ~1.6 µs); from the second event of a run on, the metadata
  map is merged from its encoded bytes (one C call) instead of set key by key from a dict; empty
  metadata is not set at all;
- pages are filled in place with their repeated field's ``add``: a list of events handed to a
  response's constructor is copied, another ~1 µs per event.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import asyncpg
from fundledger.eventstore.v1.events_pb2 import RecordedEvent
from google.protobuf.timestamp_pb2 import Timestamp

# The columns every row given to a RowConverter has, in this order. effective_at is NULL when
# the event's effective time is its recorded_at (migration 0007): the converter reads it as
# coalesce(effective_at, recorded_at), reusing the recorded time's Timestamp. hash is the event's
# link in its stream's hash chain (migration 0009), NULL until the back-fill reaches an event
# written before the chain (read as empty bytes).
COLUMNS = """position, stream_id, category, version, event_id, event_type, schema_version,
data, metadata, causation_id, correlation_id, user_id, source, tenant, actor, recorded_at,
effective_at, hash"""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Bytes of an event's encoding besides its text fields: tags, lengths, the integers, the
# event id (36), the two timestamps and the hash (32), with room to spare.
_FIXED_BYTES = 146


class RowConverter:
    """Converts the rows of one read; remembers the last metadata and time it converted.

    ``size`` is the encoded size of the last event converted, give or take a few bytes (text
    fields counted in characters): what bounds a page's bytes without encoding it.
    """

    __slots__ = ("_at", "_metadata", "_metadata_bytes", "_metadata_text", "_timestamp", "size")

    def __init__(self) -> None:
        self._metadata_text: str | None = None
        self._metadata: dict[str, str] = {}
        # The metadata map encoded, once a second event shares it ("" until then, or empty).
        self._metadata_bytes = b""
        self._at: datetime | None = None
        self._timestamp = Timestamp()
        self.size = 0

    def convert(self, make: Callable[..., RecordedEvent], row: asyncpg.Record) -> RecordedEvent:
        """The row's event, made by ``make``: a page's ``events.add`` (fills it in place) or
        ``RecordedEvent`` (a new message)."""
        (
            position,
            stream_id,
            category,
            version,
            event_id,
            event_type,
            schema_version,
            data,
            metadata,
            causation_id,
            correlation_id,
            user_id,
            source,
            tenant,
            actor,
            recorded_at,
            effective_at,
            chain_hash,
        ) = row
        if metadata != self._metadata_text:
            self._metadata_text, self._metadata = metadata, json.loads(metadata)
            self._metadata_bytes = b""
        elif self._metadata and not self._metadata_bytes:
            self._metadata_bytes = RecordedEvent(metadata=self._metadata).SerializeToString()
        if recorded_at != self._at:
            since = recorded_at - _EPOCH
            self._at = recorded_at
            self._timestamp = Timestamp(
                seconds=since.days * 86400 + since.seconds, nanos=since.microseconds * 1000
            )
        if effective_at is None or effective_at == recorded_at:
            effective = self._timestamp
        else:
            since = effective_at - _EPOCH
            effective = Timestamp(
                seconds=since.days * 86400 + since.seconds, nanos=since.microseconds * 1000
            )
        payload = data.encode()
        causation_id = causation_id or ""
        correlation_id = correlation_id or ""
        user_id = user_id or ""
        source = source or ""
        tenant = tenant or ""
        actor = actor or ""
        self.size = (
            len(payload)
            + len(metadata)
            + len(stream_id)
            + len(category)
            + len(event_type)
            + len(causation_id)
            + len(correlation_id)
            + len(user_id)
            + len(source)
            + len(tenant)
            + len(actor)
            + _FIXED_BYTES
        )
        event = make(
            stream_id=stream_id,
            version=version,
            position=position,
            event_id=str(event_id),
            event_type=event_type,
            schema_version=schema_version,
            data=payload,
            causation_id=causation_id,
            correlation_id=correlation_id,
            user_id=user_id,
            source=source,
            category=category,
            tenant=tenant,
            actor=actor,
            recorded_at=self._timestamp,
            effective_at=effective,
            hash=chain_hash or b"",
        )
        if self._metadata_bytes:
            event.MergeFromString(self._metadata_bytes)
        elif self._metadata:
            event.metadata.update(self._metadata)
        return event


def to_recorded_event(row: asyncpg.Record) -> RecordedEvent:
    """One row's event (the relay's, one at a time)."""
    return RowConverter().convert(RecordedEvent, row)
