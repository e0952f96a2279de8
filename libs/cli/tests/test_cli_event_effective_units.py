"""Business time in the CLI's event input and rendering (pure: no stack)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from fundledger.eventstore.v1 import events_pb2
from fundledger_cli.bulk_import import idempotency_key, parse_input
from fundledger_cli.event_input import InputError, parse_event
from fundledger_cli.eventstore_ops import event_data
from fundledger_cli.render import event_json, event_line, events_table
from rich.console import Console

SEPT_30 = datetime(2025, 9, 30, 17, 0, tzinfo=UTC)


def note(**fields: object) -> dict[str, object]:
    return {"event_type": "NOTE_ADDED", "data": {"n": 1}, **fields}


@pytest.mark.parametrize(
    "text", ["2025-09-30T17:00:00Z", "2025-09-30T19:00:00+02:00", "2025-09-30t17:00:00z"]
)
def test_effective_at_is_rfc3339_kept_in_utc_and_sent(text: str) -> None:
    event = parse_event(note(effective_at=text), "line 1")
    assert event.effective_at == SEPT_30
    assert event_data(event).effective_at.ToDatetime(tzinfo=UTC) == SEPT_30
    assert not event_data(parse_event(note(), "line 1")).HasField("effective_at")


@pytest.mark.parametrize("value", ["2025-09-30T17:00:00", "2025-09-30", "yesterday", 1759251600])
def test_a_time_without_offset_or_not_rfc3339_is_refused_naming_the_field(value: object) -> None:
    with pytest.raises(InputError) as caught:
        parse_event(note(effective_at=value), "line 3")
    assert (caught.value.where, caught.value.field) == ("line 3", "effective_at")


def test_schema_versions_are_checked_as_the_event_store_does() -> None:
    v1 = {"event_type": "INVESTMENT_MADE", "data": {"companyId": "c1", "amountCents": 5}}
    assert parse_event({**v1, "schema_version": 1}, "l").schema_version == 1
    with pytest.raises(InputError) as caught:
        parse_event({**v1, "schema_version": 3}, "l")
    assert caught.value.field == "schema_version"


def test_an_import_key_changes_with_effective_at_and_not_without_it() -> None:
    def key(line: dict[str, object]) -> str:
        parsed = parse_input([json.dumps({"stream_id": "note-1", **line}).encode()])
        return idempotency_key("note-1", 0, parsed.streams["note-1"])

    plain = key(note())
    assert key(note()) == plain
    assert key(note(effective_at="2025-09-30T17:00:00Z")) != plain


def recorded(effective: datetime | None) -> events_pb2.RecordedEvent:
    event = events_pb2.RecordedEvent(
        stream_id="note-1", version=1, position=7, event_type="NOTE_ADDED", data=b"{}"
    )
    event.recorded_at.FromDatetime(datetime(2025, 10, 15, 9, 0, tzinfo=UTC))
    event.effective_at.CopyFrom(event.recorded_at)
    if effective is not None:
        event.effective_at.FromDatetime(effective)
    return event


def test_the_rendered_event_shows_its_effective_time() -> None:
    backdated, same = recorded(SEPT_30), recorded(None)
    assert json.loads(event_json(backdated))["effective_at"] == "2025-09-30T17:00:00Z"
    assert json.loads(event_json(same))["effective_at"] == "2025-10-15T09:00:00Z"
    assert "effective 2025-09-30 17:00:00.000Z" in event_line(backdated)
    assert "effective" not in event_line(same)
    # A server from before business time sends none: the recorded time stands in.
    old = recorded(None)
    old.ClearField("effective_at")
    assert json.loads(event_json(old))["effective_at"] == "2025-10-15T09:00:00Z"
    console = Console(width=200, record=True)
    console.print(events_table([backdated], "t"))
    text = console.export_text()
    assert "effective at (UTC)" in text
    assert "2025-09-30 17:00:00.000Z" in text


def test_old_schema_versions_are_shown_in_the_newest_shape() -> None:
    """Every reader sees the newest shape, the CLI too: a v1 INVESTMENT_MADE reads as EQUITY,
    and --json pairs that payload with the newest version, so a line re-imports as it reads."""
    stored = events_pb2.RecordedEvent(
        stream_id="fund-1",
        version=3,
        event_type="INVESTMENT_MADE",
        schema_version=1,
        data=b'{"company_id":"acme","amount_cents":500}',
    )
    line = json.loads(event_json(stored))
    assert (line["schema_version"], line["data"]) == (
        2,
        {"company_id": "acme", "amount_cents": 500, "instrument": "INSTRUMENT_EQUITY"},
    )
    assert "INSTRUMENT_EQUITY" in event_line(stored)
    assert parse_event(
        {"event_type": line["event_type"], "data": line["data"], "schema_version": 2}, "line 1"
    )
    # Not a fund event, or already the newest: as stored.
    note_event = events_pb2.RecordedEvent(event_type="NOTE_ADDED", data=b'{"n":1}')
    assert json.loads(event_json(note_event))["data"] == {"n": 1}
