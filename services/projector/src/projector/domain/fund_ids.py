"""Fund ids are the fund's stream id: `fund-<id>`."""

from __future__ import annotations

import re

from fundledger_platform.errors import InvalidArgument

CATEGORY = "fund"
MAX_FUND_ID_LENGTH = 200
# The event store's rule for the id part of a stream id (letters, digits and a few
# separators): anything else cannot be a stream it ever accepted.
_FUND_ID = re.compile(r"^fund-[A-Za-z0-9_.:-]+$")


def is_fund_id(value: str) -> bool:
    return len(value) <= MAX_FUND_ID_LENGTH and _FUND_ID.match(value) is not None


def fund_id(value: str, field: str = "fund_id") -> str:
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
