"""Fund ids are the fund's stream id, `fund-<id>`, in the event store's category `fund`.

The event store's id rule (letters, digits, '_', '.', ':', '-'; 200 characters at most) is
checked here too, so a bad id is the caller's INVALID_ARGUMENT naming the field they sent,
not an event-store error about some `stream_id` they never sent.
"""

from __future__ import annotations

import re

from fundledger_platform.errors import InvalidArgument

FUND_CATEGORY = "fund"
MAX_FUND_ID_LENGTH = 200
_FUND_ID = re.compile(r"^fund-[A-Za-z0-9_.:-]+$")


def is_fund_id(value: str) -> bool:
    return len(value) <= MAX_FUND_ID_LENGTH and _FUND_ID.match(value) is not None


def check_fund_id(value: str, field: str = "fund_id") -> str:
    """`value` when it is a well-formed fund id; InvalidArgument naming `field` otherwise."""
    if not value:
        raise InvalidArgument(f"{field}: required", reason="FUND_ID_INVALID", field=field)
    if not is_fund_id(value):
        raise InvalidArgument(
            f"{field}: must look like 'fund-<id>' (id: letters, digits, '_', '.', ':', '-'; "
            f"at most {MAX_FUND_ID_LENGTH} characters), got {value[:60]!r}",
            reason="FUND_ID_INVALID",
            field=field,
        )
    return value
