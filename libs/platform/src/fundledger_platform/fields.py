"""Checks of request fields every service shares, each with its one registered reason."""

from __future__ import annotations

import uuid
from datetime import datetime

from fundledger_platform.errors import InvalidArgument
from fundledger_platform.reasons import Reason


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
