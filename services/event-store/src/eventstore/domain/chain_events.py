"""A RecordedEvent as the hash chain covers it (fundledger_kernel.chain): what any reader of the
log, the bus included, recomputes an event's hash from. The store's own verification goes
through it too (service_layer/verify.py), so it checks what readers are given."""

from __future__ import annotations

from fundledger.eventstore.v1.events_pb2 import RecordedEvent
from fundledger_kernel.chain import ChainEvent
from google.protobuf.timestamp_pb2 import Timestamp


def _micros(at: Timestamp) -> int:
    return at.seconds * 1_000_000 + at.nanos // 1000


def chain_event(event: RecordedEvent) -> ChainEvent:
    recorded = _micros(event.recorded_at)
    return ChainEvent(
        stream_id=event.stream_id,
        version=event.version,
        position=event.position,
        event_id=event.event_id,
        category=event.category,
        event_type=event.event_type,
        schema_version=event.schema_version,
        data=event.data,
        metadata=dict(event.metadata),
        causation_id=event.causation_id,
        correlation_id=event.correlation_id,
        user_id=event.user_id,
        source=event.source,
        tenant=event.tenant,
        actor=event.actor,
        recorded_at_us=recorded,
        effective_at_us=_micros(event.effective_at) if event.HasField("effective_at") else recorded,
    )
