"""Timeline entries: the event as the log stores it, its payload typed when it reads."""

from __future__ import annotations

import json

import pytest
from fundledger.eventstore.v1.events_pb2 import RecordedEvent
from fundledger.fund.v1 import events_pb2 as fund_events
from fundledger_kernel.fund.fold_input import UnreadableEventError
from fundledger_platform.recorded import logged_event
from snapshotter.adapters.event_log import timeline_event
from snapshotter.domain.timeline import fund_payload
from snapshotter.entrypoints.mappers import recorded_event, timeline_entry


def recorded(event_type: str, data: object, version: int = 3) -> RecordedEvent:
    event = RecordedEvent(
        stream_id="fund-6b1d",
        version=version,
        position=77,
        event_id="0b6f3c8e-5a4e-4b55-9a0e-2f3f2b0c1d11",
        event_type=event_type,
        schema_version=1,
        data=json.dumps(data).encode(),
        metadata={"trace": "abc", "origin": "cli"},
        causation_id="cause-1",
        correlation_id="corr-1",
        user_id="user-1",
        source="test",
        category="fund",
    )
    event.recorded_at.FromMicroseconds(1_772_323_200_123_456)
    # Always set by the event store (the appended one, else recorded_at); here backdated.
    event.effective_at.FromMicroseconds(1_772_000_000_000_000)
    return event


def test_every_stored_field_survives_the_edge_both_ways() -> None:
    event = recorded("CAPITAL_CALLED", {"amount_cents": 5})
    assert recorded_event(timeline_event(event)) == event


def test_payloads_are_typed_for_fund_events_only() -> None:
    entry = timeline_entry(timeline_event(recorded("CAPITAL_CALLED", {"amount_cents": 5})))
    call = fund_events.CapitalCalled()
    assert entry.payload.Unpack(call)
    assert call.amount_cents == 5
    note = timeline_entry(timeline_event(recorded("NOTE_ADDED", {"text": "hi"})))
    assert not note.HasField("payload")
    assert note.event.event_type == "NOTE_ADDED"


def test_an_unreadable_payload_is_shown_raw() -> None:
    bad = recorded("CAPITAL_CALLED", {"amount_cents": "lots"})
    with pytest.raises(UnreadableEventError):
        fund_payload(logged_event(bad))
    entry = timeline_entry(timeline_event(bad))
    assert not entry.HasField("payload")
    assert entry.event == bad
