"""Request fields of ProjectorService: checked here, before any use case runs."""

from __future__ import annotations

from fundledger_kernel.streams import is_fund_id
from fundledger_platform.fields import non_negative
from fundledger_platform.pagination import decode_page_token, encode_page_token

# GetFundState answers this long before the caller's deadline (at most), so the
# caller receives DEADLINE_EXCEEDED with our details instead of its own bare one.
MAX_DEADLINE_MARGIN_SECONDS = 0.5
DEADLINE_MARGIN_FRACTION = 0.2

_FUNDS_TOKEN = "funds"


def min_version(value: int) -> int:
    return non_negative(value, "min_version")


def wait_budget(time_remaining: float | None, max_wait_seconds: float) -> float:
    """How long GetFundState may wait: the call's remaining time less a margin."""
    if time_remaining is None:
        return max_wait_seconds
    margin = min(MAX_DEADLINE_MARGIN_SECONDS, time_remaining * DEADLINE_MARGIN_FRACTION)
    return max(0.0, min(time_remaining - margin, max_wait_seconds))


def funds_token(after: str) -> str:
    """ListFunds' token for the page after fund `after`."""
    return encode_page_token(_FUNDS_TOKEN, [after])


def _fund_after(parts: list[str]) -> str:
    # A fund id may hold ':', the token's separator: the cursor is every part.
    fund_id = ":".join(parts)
    if not is_fund_id(fund_id):
        raise ValueError(fund_id)
    return fund_id


def funds_after(token: str) -> str | None:
    """The fund id a ListFunds token continues after; None for the first page."""
    return decode_page_token(token, _FUNDS_TOKEN, _fund_after)
