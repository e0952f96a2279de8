"""The events storage writes to an entity's stream: FILE_ATTACHED and FILE_DETACHED.

Both are idempotent by file id. Their idempotency keys (`<file id>` and
`detach-<file id>`), event ids (derived from the file id) and payloads are
functions of the record alone, so re-running the append for the same file —
a retry after a lost response, a second attempt after a failed commit — sends
the very same request, and the event store answers it as a replay instead of
writing a second event.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from fundledger.fund.v1 import events_pb2 as fund_events
from google.protobuf import json_format

from storage.domain.model import FileRecord

FILE_ATTACHED = "FILE_ATTACHED"
FILE_DETACHED = "FILE_DETACHED"
SOURCE = "storage"

# Fixed namespace for event ids derived from file ids (uuid5): stable forever.
_EVENT_ID_NAMESPACE = uuid.UUID("5b0f6c1e-2f0a-4f57-9a43-6f4c1d2a9e01")


@dataclass(frozen=True)
class EntityEvent:
    """One event for one entity stream, as the EventLog port appends it."""

    stream_id: str
    event_type: str
    event_id: uuid.UUID
    data: dict[str, Any]
    idempotency_key: str
    user_id: str


def _payload(message: Any) -> dict[str, Any]:
    # Proto3 JSON of the message. One change: proto3 JSON writes int64 as a
    # string ("sizeBytes": "42"), and the event store's fund-payload validation
    # refuses numeric strings for integers (money must be a JSON integer), so
    # int64 fields go back to JSON numbers. json_format.Parse reads both.
    data: dict[str, Any] = json_format.MessageToDict(message)
    for field in message.DESCRIPTOR.fields:
        if field.cpp_type == field.CPPTYPE_INT64 and field.json_name in data:
            data[field.json_name] = int(data[field.json_name])
    return data


def uploader_of(record: FileRecord) -> str:
    """Who the events of an upload name: the verified person who uploaded it (never a request
    field); the owner only for files stored without authentication."""
    return record.created_by or record.owner_user_id


def attach_event(record: FileRecord) -> EntityEvent:
    message = fund_events.FileAttached(
        file_id=str(record.file_id),
        file_name=record.file_name,
        content_type=record.content_type,
        size_bytes=record.size,
        sha256=record.sha256,
        object_key=record.object_key,
    )
    return EntityEvent(
        stream_id=record.stream_id,
        event_type=FILE_ATTACHED,
        event_id=uuid.uuid5(_EVENT_ID_NAMESPACE, f"{FILE_ATTACHED}:{record.file_id}"),
        data=_payload(message),
        idempotency_key=str(record.file_id),
        user_id=uploader_of(record),
    )


def detach_event(record: FileRecord, user_id: str) -> EntityEvent:
    message = fund_events.FileDetached(file_id=str(record.file_id))
    return EntityEvent(
        stream_id=record.stream_id,
        event_type=FILE_DETACHED,
        event_id=uuid.uuid5(_EVENT_ID_NAMESPACE, f"{FILE_DETACHED}:{record.file_id}"),
        data=_payload(message),
        idempotency_key=f"detach-{record.file_id}",
        user_id=user_id,
    )
