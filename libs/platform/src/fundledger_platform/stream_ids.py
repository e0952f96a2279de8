"""Stream and fund ids in requests: the kernel's rule (fundledger_kernel.streams) as
INVALID_ARGUMENT naming the field the caller sent, not an event-store error about some
`stream_id` they never sent."""

from __future__ import annotations

from fundledger_kernel.streams import FUND_CATEGORY, STREAM_ID_RULE, category_of

from fundledger_platform.errors import InvalidArgument
from fundledger_platform.reasons import Reason


def check_stream_id(value: str, field: str = "stream_id") -> str:
    """The stream's category; InvalidArgument naming `field` for a malformed id."""
    return _check(value, field, Reason.STREAM_ID_INVALID, STREAM_ID_RULE)


def check_fund_id(value: str, field: str = "fund_id") -> str:
    """`value` when it is a well-formed fund id; InvalidArgument naming `field` otherwise."""
    category = _check(
        value, field, Reason.FUND_ID_INVALID, f"must look like 'fund-<id>': {STREAM_ID_RULE}"
    )
    if category != FUND_CATEGORY:
        raise _invalid(value, field, Reason.FUND_ID_INVALID, "must look like 'fund-<id>'")
    return value


def _check(value: str, field: str, reason: Reason, rule: str) -> str:
    if not value:
        raise InvalidArgument(f"{field}: required", reason=reason, field=field)
    category = category_of(value)
    if category is None:
        raise _invalid(value, field, reason, rule)
    return category


def _invalid(value: str, field: str, reason: Reason, rule: str) -> InvalidArgument:
    return InvalidArgument(f"{field}: {rule}, got {value[:60]!r}", reason=reason, field=field)
