"""Page sizes and the opaque page token of ListReallocationAudit.

A token is a tagged, base64url'd `a1:<fund digest>:<version>`: entries of the next page are
below that version. The digest of the fund id ties a token to its fund, so a token passed with
another fund id is refused instead of silently paging that fund from a foreign version.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

from fundledger_platform.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
_TAG = "a1"


def page_size(value: int) -> int:
    """0 = the default; above the maximum is capped to it (AIP-158); negative is refused."""
    if value < 0:
        raise InvalidArgument(
            "page_size must not be negative", reason="PAGE_SIZE_INVALID", field="page_size"
        )
    return min(value or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def _digest(fund_id: str) -> str:
    return hashlib.sha256(fund_id.encode()).hexdigest()[:12]


def encode_token(fund_id: str, before_version: int) -> str:
    raw = f"{_TAG}:{_digest(fund_id)}:{before_version}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_token(fund_id: str, token: str) -> int | None:
    """The version the page ends below; None for the first page (empty token)."""
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        tag, digest, version = raw.split(":")
        if tag != _TAG or digest != _digest(fund_id) or not version.isdigit():
            raise ValueError(raw)
        return int(version)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidArgument(
            "page_token is not a token this RPC issued for this fund",
            reason="INVALID_PAGE_TOKEN",
            field="page_token",
        ) from None
