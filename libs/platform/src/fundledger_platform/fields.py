"""Checks of request fields every service shares, each with its one registered reason.

A caller's malformed value is refused here, at the boundary, as INVALID_ARGUMENT naming the field;
it never travels on to fail as INTERNAL where it meets PostgreSQL (which cannot hold NUL in text),
a NATS subject, an object key, a log line or a Python conversion (docs/errors.md).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from fundledger_platform.errors import InvalidArgument
from fundledger_platform.reasons import Reason
from fundledger_platform.timestamps import from_timestamp

# Ids and names a caller sends (user, correlation, causation, company ids, idempotency keys):
# the event store's column limit, so every service refuses the same length by its own field name.
MAX_ID_LENGTH = 200
# Values of one repeated filter field (event types, categories).
MAX_FILTER_VALUES = 100
# C0 controls, DEL and C1 controls: never part of an id, a name or a filter.
_CONTROL = frozenset(chr(c) for c in (*range(0x20), *range(0x7F, 0xA0)))
# What free text (a reason, a comment) may contain besides printable characters.
_LINE_BREAKS = frozenset("\t\n\r")


def required(value: str, field: str) -> str:
    if not value:
        raise InvalidArgument(f"{field}: required", reason=Reason.FIELD_REQUIRED, field=field)
    return value


def non_negative(value: int, field: str) -> int:
    if value < 0:
        raise InvalidArgument(
            f"{field}: must not be negative", reason=Reason.FIELD_NEGATIVE, field=field
        )
    return value


def uuid_field(value: str, field: str) -> uuid.UUID:
    required(value, field)
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidArgument(
            f"{field}: not a UUID", reason=Reason.FIELD_MALFORMED, field=field
        ) from None


def malformed(field: str, message: str) -> InvalidArgument:
    """A field not of its required form (an unknown enum value, a bad timestamp, …)."""
    return InvalidArgument(f"{field}: {message}", reason=Reason.FIELD_MALFORMED, field=field)


def time_window(
    start: datetime | None, end: datetime | None, end_field: str = "end_time"
) -> tuple[datetime | None, datetime | None]:
    if start is not None and end is not None and end < start:
        raise InvalidArgument(
            f"{end_field}: must not be before start_time",
            reason=Reason.TIME_RANGE_INVALID,
            field=end_field,
        )
    return start, end


def text(value: str, field: str, *, max_length: int, multiline: bool = False) -> str:
    """A caller's text on its way to SQL, a NATS subject, an object key or a log line.

    At most `max_length` characters (FIELD_TOO_LONG); never NUL, which PostgreSQL's text and jsonb
    cannot hold; and no other control character either, except tab and line breaks when
    `multiline` (free text). Those are FIELD_MALFORMED. Empty passes: wrap in `required` when
    the field is.
    """
    if len(value) > max_length:
        raise InvalidArgument(
            f"{field}: at most {max_length} characters, got {len(value)}",
            reason=Reason.FIELD_TOO_LONG,
            field=field,
        )
    if has_control_characters(value, multiline=multiline):
        raise malformed(field, "must not contain NUL or control characters")
    return value


def has_control_characters(value: str, *, multiline: bool = False) -> bool:
    """Whether `value` holds NUL or another control character (tab and line breaks allowed
    when `multiline`): the rule of `text`, for a field refused under a reason of its own."""
    if _CONTROL.isdisjoint(value):
        return False
    allowed = _LINE_BREAKS if multiline else frozenset()
    return any(c in _CONTROL and c not in allowed for c in value)


def texts(values: Sequence[str], field: str, *, max_length: int, max_items: int) -> list[str]:
    """A repeated text field (a filter): at most `max_items` values, each checked by `text`
    under the name `field[i]`."""
    if len(values) > max_items:
        raise InvalidArgument(
            f"{field}: at most {max_items} values, got {len(values)}",
            reason=Reason.FIELD_TOO_LONG,
            field=field,
        )
    return [text(v, f"{field}[{i}]", max_length=max_length) for i, v in enumerate(values)]


def timestamp(value: Timestamp, field: str) -> datetime:
    """An aware UTC datetime; FIELD_MALFORMED for seconds outside 0001-01-01 .. 9999-12-31 or
    nanos outside 0 .. 999,999,999 (protobuf's own range for a Timestamp)."""
    try:
        return from_timestamp(value)
    except (ValueError, OverflowError):
        raise malformed(
            field, "not a valid timestamp (0001-01-01 to 9999-12-31, nanos 0 to 999999999)"
        ) from None
