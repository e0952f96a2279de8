"""The stream-id rule, once for every service and the CLI.

A stream is `<category>-<id>`: the category is lower-case letters, digits and '_' (starting with
a letter, at most 50), the id letters, digits and '_', '.', ':', '-'; 200 characters in all.
No whitespace or control characters, because stream ids end up in NATS subjects and object
keys. A fund is the stream `fund-<id>` of category `fund`.
"""

from __future__ import annotations

import re

MAX_STREAM_ID_LENGTH = 200
FUND_CATEGORY = "fund"
_STREAM_ID = re.compile(r"([a-z][a-z0-9_]{0,49})-([A-Za-z0-9_.:-]+)")

STREAM_ID_RULE = (
    "must look like '<category>-<id>' (category: lower-case letters, digits, '_';"
    f" id: letters, digits, '_', '.', ':', '-'; at most {MAX_STREAM_ID_LENGTH} characters)"
)


def category_of(stream_id: str) -> str | None:
    """The stream's category, or None when `stream_id` breaks the rule."""
    if len(stream_id) > MAX_STREAM_ID_LENGTH:
        return None
    match = _STREAM_ID.fullmatch(stream_id)
    return match.group(1) if match else None


def is_fund_id(value: str) -> bool:
    return category_of(value) == FUND_CATEGORY


def nats_token(stream_id: str) -> str:
    """The stream id as one NATS subject token ('.' separates tokens)."""
    return stream_id.replace(".", "_")
