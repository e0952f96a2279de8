"""FILE_ATTACHED / FILE_DETACHED: functions of the record alone, sent as canonical JSON."""

from __future__ import annotations

import json
import uuid

from fundledger_kernel import canonical_json
from storage.adapters.event_log import append_request
from storage.domain.events import FILE_ATTACHED, FILE_DETACHED, SOURCE, attach_event, detach_event
from storage.domain.model import FileRecord

FILE_ID = uuid.UUID("0b7e9d2c-5a41-4c1e-9f00-000000000042")
RECORD = FileRecord(
    file_id=FILE_ID,
    object_key=f"users/alice/funds/f-1/{FILE_ID}.pdf",
    size=5_000_000_000,
    content_type="application/pdf",
    sha256="ab" * 32,
    owner_user_id="alice",
    entity_type="fund",
    entity_id="f-1",
    file_name="Bericht für Q3.pdf",
)


def test_attach_event_is_a_function_of_the_record() -> None:
    event = attach_event(RECORD)
    assert event == attach_event(RECORD)
    assert (event.stream_id, event.event_type) == ("fund-f-1", FILE_ATTACHED)
    assert (event.idempotency_key, event.user_id) == (str(FILE_ID), "alice")
    assert event.data == {
        "fileId": str(FILE_ID),
        "fileName": "Bericht für Q3.pdf",
        "contentType": "application/pdf",
        # int64 as a JSON number, not proto3 JSON's string: the store refuses numeric strings.
        "sizeBytes": 5_000_000_000,
        "sha256": "ab" * 32,
        "objectKey": RECORD.object_key,
    }


def test_detach_event_has_its_own_key_and_id() -> None:
    attached, detached = attach_event(RECORD), detach_event(RECORD, "bob")
    assert (detached.stream_id, detached.event_type) == ("fund-f-1", FILE_DETACHED)
    assert (detached.idempotency_key, detached.user_id) == (f"detach-{FILE_ID}", "bob")
    assert detached.data == {"fileId": str(FILE_ID)}
    assert detached.event_id != attached.event_id
    assert detached == detach_event(RECORD, "bob")


def test_append_request_carries_canonical_json_key_and_event_id() -> None:
    event = attach_event(RECORD)
    request = append_request(event)
    assert request.stream_id == "fund-f-1"
    assert request.idempotency_key == str(FILE_ID)
    [sent] = request.events
    assert (sent.event_id, sent.event_type) == (str(event.event_id), FILE_ATTACHED)
    assert (sent.user_id, sent.source) == ("alice", SOURCE)
    assert sent.data == canonical_json(event.data)
    assert json.loads(sent.data) == event.data
    # Same record, same bytes: a retry or a re-run is answered as a replay.
    assert append_request(attach_event(RECORD)) == request
