"""Validates a raw append request into an AppendCommand (pure: no I/O).

Everything a caller can get wrong is caught here, before any transaction, and
reported as INVALID_ARGUMENT naming the field, so a bad request writes nothing.
This runs once per event of every append: field names are only formatted on
the way to an error, never for an event that passes.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from json.encoder import encode_basestring

from fundledger_kernel.canonical import PayloadError, canonical_json, parse_json_object
from fundledger_kernel.catalog import is_fund_event
from fundledger_kernel.validation import validate_new_fund_payload
from fundledger_platform.errors import InvalidArgument
from fundledger_platform.fields import MAX_ID_LENGTH as MAX_ID_LENGTH  # re-exported
from fundledger_platform.fields import malformed, non_negative, required, text
from fundledger_platform.reasons import Reason
from fundledger_platform.stream_ids import check_stream_id

from eventstore.domain.model import AppendCommand, Expected, ExpectedKind, Identity, NewEvent

MAX_EVENT_TYPE_LENGTH = 100
_EVENT_TYPE = re.compile(r"^[A-Za-z][A-Za-z0-9_.:-]{0,99}$")
_EVENT_TYPE_RULE = "letters, digits, '_', '.', ':', '-', starting with a letter"
# Ids and names the caller attaches to an event (causation, correlation, user, source) are at
# most MAX_ID_LENGTH (the platform's); so are metadata keys and the idempotency key.
MAX_KEY_LENGTH = MAX_ID_LENGTH


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
    # Business time (already checked to be a valid Timestamp, in UTC); None: unset.
    effective_at: datetime | None = None


def _invalid(field_name: str, message: str, reason: Reason) -> InvalidArgument:
    return InvalidArgument(f"{field_name}: {message}", reason=reason, field=field_name)


def _too_long(field_name: str, limit: int) -> InvalidArgument:
    return _invalid(field_name, f"at most {limit} characters", Reason.FIELD_TOO_LONG)


def _optional_text(value: str, field_name: str) -> str | None:
    return text(value, field_name, max_length=MAX_ID_LENGTH) or None


def _bad_event_type(event_type: str, field_name: str) -> InvalidArgument:
    required(event_type, field_name)
    if len(event_type) > MAX_EVENT_TYPE_LENGTH:
        return _too_long(field_name, MAX_EVENT_TYPE_LENGTH)
    return malformed(field_name, _EVENT_TYPE_RULE)


def _check_metadata(metadata: Mapping[str, str], prefix: str) -> None:
    for key, value in metadata.items():
        if not key:
            raise malformed(f"{prefix}.metadata", "keys must not be empty")
        if len(key) > MAX_KEY_LENGTH:
            raise _invalid(
                f"{prefix}.metadata",
                f"keys are at most {MAX_KEY_LENGTH} characters",
                Reason.FIELD_TOO_LONG,
            )
        if "\x00" in key or "\x00" in value:
            # PostgreSQL's jsonb cannot hold NUL: refuse it here, not as INTERNAL later.
            raise malformed(f"{prefix}.metadata[{key!r}]", "must not contain NUL characters")


def _event(
    raw: RawEvent, index: int, limits: Limits, identity: Identity | None
) -> tuple[NewEvent, str]:
    prefix = f"events[{index}]"
    if not _EVENT_TYPE.match(raw.event_type):
        raise _bad_event_type(raw.event_type, f"{prefix}.event_type")
    if raw.schema_version < 0:
        non_negative(raw.schema_version, f"{prefix}.schema_version")
    size = len(raw.data) + sum(len(k) + len(v) for k, v in raw.metadata.items())
    if size > limits.max_event_bytes:
        raise _invalid(
            prefix,
            f"event is {size} bytes, over the limit of {limits.max_event_bytes}",
            Reason.EVENT_TOO_LARGE,
        )
    if raw.event_id:
        try:
            event_id = uuid.UUID(raw.event_id)
        except ValueError:
            raise malformed(f"{prefix}.event_id", "must be a UUID") from None
    else:
        event_id = uuid.uuid4()
    try:
        data = parse_json_object(raw.data, f"{prefix}.data")
        if is_fund_event(raw.event_type):
            # An older schema version is upcast to the newest before it is validated (and
            # stored as given: history is never rewritten, readers upcast); a version newer
            # than the kernel knows is refused, naming events[i].schema_version.
            validate_new_fund_payload(raw.event_type, data, raw.schema_version or 1)
    except PayloadError as err:
        name = err.field if err.field.startswith(prefix) else f"{prefix}.{err.field}"
        raise _invalid(name, err.message, Reason.INVALID_PAYLOAD) from None
    _check_metadata(raw.metadata, prefix)
    if raw.effective_at is not None and not _STORABLE[0] < raw.effective_at < _STORABLE[1]:
        raise malformed(
            f"{prefix}.effective_at",
            "must lie strictly between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z",
        )
    # Checked even when the server overrides it: a caller's field is never INTERNAL.
    user_id = _optional_text(raw.user_id, f"{prefix}.user_id")
    if identity is not None:
        user_id = identity.user_id
    # One canonical dump of the data serves the stored text, its hash (the kernel's
    # payload_hash is the SHA-256 of exactly these bytes) and the request's fingerprint.
    canonical = canonical_json(data)
    data_text = canonical.decode()
    event = NewEvent(
        event_id=event_id,
        client_event_id=bool(raw.event_id),
        event_type=raw.event_type,
        schema_version=raw.schema_version or 1,
        data=data_text,
        payload_hash=hashlib.sha256(canonical).digest(),
        metadata=dict(raw.metadata),
        causation_id=_optional_text(raw.causation_id, f"{prefix}.causation_id"),
        correlation_id=_optional_text(raw.correlation_id, f"{prefix}.correlation_id"),
        user_id=user_id,
        source=_optional_text(raw.source, f"{prefix}.source"),
        actor=identity.actor if identity is not None else None,
        effective_at=raw.effective_at,
    )
    return event, _fingerprint(raw, event.schema_version, data_text)


def _fingerprint(raw: RawEvent, schema_version: int, data_text: str) -> str:
    """What identifies the event for idempotency, everything the caller chose, as canonical
    JSON: exactly ``canonical_json`` of the object ``{"event_id": …, "event_type": …,
    "schema_version": …, "data": <the data>, "metadata": {…}, "causation_id": …,
    "correlation_id": …, "user_id": …, "source": …}`` (keys sorted, no whitespace, UTF-8 kept),
    written out here so the data's canonical text is reused rather than dumped again. Stored
    request hashes depend on these bytes: they must not change (a test pins them to the dict).
    Server-generated event ids are left out, so a retry hashes the same. An effective time, when
    set, is the key ``"effective_at"`` (its ISO 8601 text, to the microsecond stored): a retry
    with another one is another request; unset, the key is absent, so every hash stored before
    business time existed still matches its retry."""
    metadata = ",".join(
        f"{encode_basestring(key)}:{encode_basestring(raw.metadata[key])}"
        for key in sorted(raw.metadata)
    )
    return (
        f'{{"causation_id":{encode_basestring(raw.causation_id)}'
        f',"correlation_id":{encode_basestring(raw.correlation_id)}'
        f',"data":{data_text}'
        f"{_effective_member(raw.effective_at)}"
        f',"event_id":{encode_basestring(raw.event_id.lower())}'
        f',"event_type":{encode_basestring(raw.event_type)}'
        f',"metadata":{{{metadata}}}'
        f',"schema_version":{int(schema_version)}'
        f',"source":{encode_basestring(raw.source)}'
        f',"user_id":{encode_basestring(raw.user_id)}}}'
    )


# The two instants the PostgreSQL driver stores as -infinity / infinity (and reads back as
# naive datetimes): an effective time must lie strictly between them to round-trip.
_STORABLE = (
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
)


def _effective_member(effective_at: datetime | None) -> str:
    if effective_at is None:
        return ""
    return f',"effective_at":{encode_basestring(effective_at.isoformat())}'


def _request_hash(stream_id: str, expected: Expected, fingerprints: Sequence[str]) -> bytes:
    """``request_hash([stream_id, expected.describe(), [fingerprint, …]])`` of the kernel, from
    the fingerprints' canonical JSON."""
    text = (
        f"[{encode_basestring(stream_id)},{encode_basestring(expected.describe())},"
        f"[{','.join(fingerprints)}]]"
    )
    return hashlib.sha256(text.encode("utf-8")).digest()


def validate_append(
    stream_id: str,
    expected: Expected,
    events: Sequence[RawEvent],
    idempotency_key: str,
    limits: Limits,
    identity: Identity | None = None,
) -> AppendCommand:
    """The append as a command the store can write, or InvalidArgument naming the
    first field that is wrong.

    ``identity`` (None: authentication is off) is written into every event whatever the request
    says: its user (a request's ``user_id`` is ignored), its actor, and its tenant rule."""
    category = check_stream_id(stream_id)
    if expected.kind is ExpectedKind.EXACT and expected.version < 0:
        raise _invalid("expected_version", "must not be negative", Reason.EXPECTED_VERSION_INVALID)
    if not events:
        raise _invalid("events", "an append needs at least one event", Reason.EMPTY_APPEND)
    if len(events) > limits.max_events:
        raise _invalid(
            "events",
            f"{len(events)} events, over the limit of {limits.max_events} per append",
            Reason.TOO_MANY_EVENTS,
        )
    total = sum(len(e.data) for e in events)
    if total > limits.max_append_bytes:
        raise _invalid(
            "events",
            f"{total} bytes of payload, over the limit of {limits.max_append_bytes} per append",
            Reason.APPEND_TOO_LARGE,
        )
    # Checked before any I/O: a key PostgreSQL cannot store would fail the whole group commit
    # it joined, other callers' appends included.
    text(idempotency_key, "idempotency_key", max_length=MAX_KEY_LENGTH)
    built = [_event(raw, i, limits, identity) for i, raw in enumerate(events)]
    ids = [e.event_id for e, _ in built]
    if len(set(ids)) != len(ids):
        raise _invalid("events", "event ids repeat within one append", Reason.DUPLICATE_EVENT_ID)
    # The request as sent, not who sent it: a service retrying, for itself, an append it first
    # made for a person (an upload's FILE_ATTACHED) is answered with the first one's result.
    # Another tenant never gets that answer: the store checks the stream's tenant first.
    digest = _request_hash(stream_id, expected, [fp for _, fp in built])
    effective = [e.effective_at for e, _ in built if e.effective_at is not None]
    return AppendCommand(
        stream_id=stream_id,
        category=category,
        expected=expected,
        events=tuple(e for e, _ in built),
        idempotency_key=idempotency_key or None,
        request_hash=digest,
        tenant=identity.tenant if identity is not None else None,
        latest_effective_at=max(effective) if effective else None,
    )
