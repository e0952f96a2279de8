"""List RPCs: one page-size rule and one opaque page-token codec for every service (AIP-158).

A token is a tagged, base64url'd `<kind>:<scope digest>:<cursor…>`. The kind ties it to the RPC
that issued it and the digest to the query (a fund, an owner, a filter), so a token replayed
against another RPC or another query is refused with INVALID_PAGE_TOKEN instead of silently
paging something else from a foreign cursor.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Sequence
from typing import TypeVar

from fundledger_platform.errors import InvalidArgument
from fundledger_platform.reasons import Reason

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000

T = TypeVar("T")


def page_size(value: int, field: str = "page_size") -> int:
    """0 means the default; above the maximum is capped to it; negative is refused."""
    if value < 0:
        raise InvalidArgument(
            f"{field}: must not be negative", reason=Reason.PAGE_SIZE_INVALID, field=field
        )
    return min(value or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def _digest(scope: str) -> str:
    return hashlib.sha256(scope.encode()).hexdigest()[:12]


def encode_page_token(kind: str, cursor: Sequence[object], scope: str = "") -> str:
    """The token for the page after `cursor` (its parts must not contain ':')."""
    raw = ":".join([kind, _digest(scope), *(str(part) for part in cursor)])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_page_token(
    token: str,
    kind: str,
    parse: Callable[[list[str]], T],
    scope: str = "",
    field: str = "page_token",
) -> T | None:
    """The cursor `parse` reads from a token's parts; None for the first page (empty token).

    `parse` raises ValueError (or TypeError) for parts it cannot read; that, like a token of
    another kind or scope, is the caller's INVALID_PAGE_TOKEN.
    """
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        tag, digest, *parts = raw.split(":")
        if tag != kind or digest != _digest(scope):
            raise ValueError(raw)
        return parse(parts)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError, OverflowError):
        raise InvalidArgument(
            f"{field}: not a token this RPC issued for this query",
            reason=Reason.INVALID_PAGE_TOKEN,
            field=field,
        ) from None


# A cursor is a position or a version: a PostgreSQL bigint. A forged token holding a larger
# number is the caller's INVALID_PAGE_TOKEN, not an overflow in the database driver.
MAX_CURSOR = 2**63 - 1


def integers(count: int) -> Callable[[list[str]], tuple[int, ...]]:
    """A `parse` for cursors of `count` integers in 0 .. 2**63 - 1."""

    def parse(parts: list[str]) -> tuple[int, ...]:
        if len(parts) != count or not all(part.isdigit() and len(part) <= 19 for part in parts):
            raise ValueError(parts)
        values = tuple(int(part) for part in parts)
        if any(value > MAX_CURSOR for value in values):
            raise ValueError(parts)
        return values

    return parse
