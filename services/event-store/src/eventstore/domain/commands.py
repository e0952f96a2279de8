"""Turns a raw append request into a validated AppendCommand (pure: no I/O).

Everything a caller can get wrong is caught here, before any transaction, and
reported as INVALID_ARGUMENT naming the field, so a bad request writes nothing.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from fundledger_kernel.canonical import (
    PayloadError,
    canonical_json,
    parse_json_object,
    payload_hash,
    request_hash,
)
from fundledger_kernel.catalog import is_fund_event
from fundledger_kernel.validation import validate_fund_payload
from fundledger_platform.errors import InvalidArgument

from eventstore.domain.model import AppendCommand, Expected, ExpectedKind, NewEvent
from eventstore.domain.streams import category_of

_EVENT_TYPE = re.compile(r"^[A-Za-z][A-Za-z0-9_.:-]{0,99}$")
_MAX_ID_LENGTH = 200
_MAX_KEY_LENGTH = 200


@dataclass(frozen=True)
class Limits:
    max_events: int = 1000
    max_event_bytes: int = 1024 * 1024
    max_append_bytes: int = 8 * 1024 * 1024


@dataclass(frozen=True)
class RawEvent:
    event_id: str
    event_type: str
    schema_version: int
    data: bytes
    metadata: Mapping[str, str] = field(default_factory=dict)
    causation_id: str = ""
    correlation_id: str = ""
    user_id: str = ""
    source: str = ""


def _invalid(field_name: str, message: str, reason: str = "INVALID_ARGUMENT") -> InvalidArgument:
    return InvalidArgument(f"{field_name}: {message}", reason=reason, field=field_name)


def _optional_text(value: str, field_name: str) -> str | None:
    if not value:
        return None
    if len(value) > _MAX_ID_LENGTH or any(ord(c) < 32 for c in value):
        raise _invalid(field_name, f"at most {_MAX_ID_LENGTH} printable characters")
    return value


def _event(raw: RawEvent, index: int, limits: Limits) -> tuple[NewEvent, dict[str, object]]:
    prefix = f"events[{index}]"
    if not _EVENT_TYPE.match(raw.event_type):
        raise _invalid(
            f"{prefix}.event_type",
            "required; letters, digits, '_', '.', ':', '-', at most 100 characters",
        )
    if raw.schema_version < 0:
        raise _invalid(f"{prefix}.schema_version", "must not be negative")
    size = len(raw.data) + sum(len(k) + len(v) for k, v in raw.metadata.items())
    if size > limits.max_event_bytes:
        raise _invalid(
            prefix,
            f"event is {size} bytes, over the limit of {limits.max_event_bytes}",
            reason="EVENT_TOO_LARGE",
        )
    if raw.event_id:
        try:
            event_id = uuid.UUID(raw.event_id)
        except ValueError:
            raise _invalid(f"{prefix}.event_id", "must be a UUID") from None
    else:
        event_id = uuid.uuid4()
    try:
        data = parse_json_object(raw.data, f"{prefix}.data")
        if is_fund_event(raw.event_type):
            validate_fund_payload(raw.event_type, data)
    except PayloadError as err:
        name = err.field if err.field.startswith(prefix) else f"{prefix}.{err.field}"
        raise InvalidArgument(
            f"{name}: {err.message}", reason="INVALID_PAYLOAD", field=name
        ) from None
    for key, value in raw.metadata.items():
        if not key or len(key) > _MAX_ID_LENGTH:
            raise _invalid(f"{prefix}.metadata", "keys must be 1..200 characters")
        if "\x00" in key or "\x00" in value:
            # PostgreSQL's jsonb cannot hold NUL: refuse it here, not as INTERNAL later.
            raise _invalid(f"{prefix}.metadata[{key!r}]", "must not contain NUL characters")
    event = NewEvent(
        event_id=event_id,
        client_event_id=bool(raw.event_id),
        event_type=raw.event_type,
        schema_version=raw.schema_version or 1,
        data=canonical_json(data).decode(),
        payload_hash=payload_hash(data),
        metadata=dict(raw.metadata),
        causation_id=_optional_text(raw.causation_id, f"{prefix}.causation_id"),
        correlation_id=_optional_text(raw.correlation_id, f"{prefix}.correlation_id"),
        user_id=_optional_text(raw.user_id, f"{prefix}.user_id"),
        source=_optional_text(raw.source, f"{prefix}.source"),
    )
    # What identifies the request for idempotency: everything the caller chose.
    # Server-generated event ids are left out, so a retry hashes the same.
    fingerprint: dict[str, object] = {
        "event_id": raw.event_id.lower(),
        "event_type": raw.event_type,
        "schema_version": event.schema_version,
        "data": data,
        "metadata": dict(raw.metadata),
        "causation_id": raw.causation_id,
        "correlation_id": raw.correlation_id,
        "user_id": raw.user_id,
        "source": raw.source,
    }
    return event, fingerprint


def build_append_command(
    stream_id: str,
    expected: Expected,
    events: Sequence[RawEvent],
    idempotency_key: str,
    limits: Limits,
) -> AppendCommand:
    category = category_of(stream_id)
    if expected.kind is ExpectedKind.EXACT and expected.version < 0:
        raise _invalid("expected_version", "must not be negative")
    if not events:
        raise _invalid("events", "an append needs at least one event", reason="EMPTY_APPEND")
    if len(events) > limits.max_events:
        raise _invalid(
            "events",
            f"{len(events)} events, over the limit of {limits.max_events} per append",
            reason="TOO_MANY_EVENTS",
        )
    total = sum(len(e.data) for e in events)
    if total > limits.max_append_bytes:
        raise _invalid(
            "events",
            f"{total} bytes of payload, over the limit of {limits.max_append_bytes} per append",
            reason="APPEND_TOO_LARGE",
        )
    if len(idempotency_key) > _MAX_KEY_LENGTH:
        raise _invalid("idempotency_key", f"at most {_MAX_KEY_LENGTH} characters")
    built = [_event(raw, i, limits) for i, raw in enumerate(events)]
    ids = [e.event_id for e, _ in built]
    if len(set(ids)) != len(ids):
        raise _invalid("events", "event ids repeat within one append", reason="DUPLICATE_EVENT_ID")
    digest = request_hash([stream_id, expected.describe(), [fp for _, fp in built]])
    return AppendCommand(
        stream_id=stream_id,
        category=category,
        expected=expected,
        events=tuple(e for e, _ in built),
        idempotency_key=idempotency_key or None,
        request_hash=digest,
    )


def with_trace(command: AppendCommand, traceparent: str) -> AppendCommand:
    """The command with the caller's W3C trace context in each event's metadata
    (unless the caller set one), leaving the idempotency hash as it was."""
    events = tuple(
        e
        if "traceparent" in e.metadata
        else dataclasses.replace(e, metadata={**e.metadata, "traceparent": traceparent})
        for e in command.events
    )
    return dataclasses.replace(command, events=events)
