"""Stream naming: `<category>-<id>`, e.g. `fund-3f2c…`."""

from __future__ import annotations

import re

from fundledger_platform.errors import InvalidArgument

MAX_STREAM_ID_LENGTH = 200
_CATEGORY = re.compile(r"^[a-z][a-z0-9_]{0,49}$")
# The id part may hold letters, digits and a few separators; no whitespace or
# control characters, since stream ids end up in NATS subjects and object keys.
_ID = re.compile(r"^[A-Za-z0-9_.:-]+$")


def category_of(stream_id: str, field: str = "stream_id") -> str:
    """The stream's category; raises InvalidArgument for a malformed stream id."""
    if not stream_id:
        raise InvalidArgument(f"{field} is required", reason="STREAM_ID_INVALID", field=field)
    if len(stream_id) > MAX_STREAM_ID_LENGTH:
        raise InvalidArgument(
            f"{field} is longer than {MAX_STREAM_ID_LENGTH} characters",
            reason="STREAM_ID_INVALID",
            field=field,
        )
    category, sep, rest = stream_id.partition("-")
    if not sep or not _CATEGORY.match(category) or not rest or not _ID.match(rest):
        raise InvalidArgument(
            f"{field} must look like '<category>-<id>' (category: lower-case letters, "
            f"digits, '_'; id: letters, digits, '_', '.', ':', '-'), got {stream_id!r}",
            reason="STREAM_ID_INVALID",
            field=field,
        )
    return category


def nats_token(stream_id: str) -> str:
    """The stream id as one NATS subject token ('.' separates tokens)."""
    return stream_id.replace(".", "_")
