"""Checks of request fields that are not upload metadata."""

from __future__ import annotations

import uuid

from fundledger_platform.errors import InvalidArgument

from storage.domain.keys import check_entity_id, check_entity_type, check_owner
from storage.domain.model import ListScope

DEFAULT_EXPIRY_SECONDS = 3600
MAX_EXPIRY_SECONDS = 604_800  # 7 days: the longest a SigV4 pre-signed URL may live
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
MAX_USER_ID_LENGTH = 200


def check_file_id(value: str, field: str = "file_id") -> uuid.UUID:
    if not value:
        raise InvalidArgument(f"{field} is required", reason="INVALID_ARGUMENT", field=field)
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidArgument(
            f"{field} is not a UUID", reason="INVALID_ARGUMENT", field=field
        ) from None


def check_expiry(seconds: int, field: str = "expires_in_seconds") -> int:
    if seconds == 0:
        return DEFAULT_EXPIRY_SECONDS
    if not 1 <= seconds <= MAX_EXPIRY_SECONDS:
        raise InvalidArgument(
            f"{field} must be 1 to {MAX_EXPIRY_SECONDS} (0 = {DEFAULT_EXPIRY_SECONDS})",
            reason="EXPIRY_OUT_OF_RANGE",
            field=field,
        )
    return seconds


def check_page_size(value: int, field: str = "page_size") -> int:
    if value < 0:
        raise InvalidArgument(
            f"{field} must not be negative", reason="INVALID_ARGUMENT", field=field
        )
    return min(value or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def check_user_id(value: str, field: str = "user_id") -> str:
    """An optional acting user (goes into the event's user_id)."""
    if len(value) > MAX_USER_ID_LENGTH or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise InvalidArgument(
            f"{field} must be at most {MAX_USER_ID_LENGTH} printable characters",
            reason="INVALID_ARGUMENT",
            field=field,
        )
    return value


def check_scope(owner_user_id: str, entity_type: str, entity_id: str) -> ListScope:
    """Owner alone, or entity type and id together; anything else is refused."""
    by_entity = bool(entity_type or entity_id)
    if owner_user_id and by_entity:
        raise InvalidArgument(
            "give owner_user_id or entity_type + entity_id, not both",
            reason="SCOPE_AMBIGUOUS",
            field="owner_user_id",
        )
    if owner_user_id:
        return ListScope(owner_user_id=check_owner(owner_user_id))
    if not by_entity:
        raise InvalidArgument(
            "owner_user_id or entity_type + entity_id is required",
            reason="SCOPE_REQUIRED",
            field="owner_user_id",
        )
    return ListScope(
        entity_type=check_entity_type(entity_type), entity_id=check_entity_id(entity_id)
    )
