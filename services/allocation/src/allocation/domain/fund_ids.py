"""Fund stream ids: allocation only works on streams of category `fund`."""

from __future__ import annotations

import re

from fundledger_platform.errors import InvalidArgument

FUND_CATEGORY = "fund"
# The event store's id rule (letters, digits, '_', '.', ':', '-'; 200 characters at most) is
# checked here too, so a bad id is the caller's INVALID_ARGUMENT naming `fund_id`, not an
# event-store error about some `stream_id` the caller never sent.
_FUND_ID = re.compile(r"^fund-[A-Za-z0-9_.:-]{1,195}$")


def check_fund_id(fund_id: str, field: str = "fund_id") -> str:
    """`fund_id` when it names a fund stream (`fund-<id>`); InvalidArgument otherwise."""
    if not fund_id:
        raise InvalidArgument(f"{field} is required", reason="FUND_ID_INVALID", field=field)
    if not _FUND_ID.match(fund_id):
        raise InvalidArgument(
            f"{field} must be a fund stream id 'fund-<id>', got {fund_id!r}",
            reason="FUND_ID_INVALID",
            field=field,
        )
    return fund_id
