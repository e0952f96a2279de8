"""Request fields -> domain inputs, refusing malformed ones as INVALID_ARGUMENT naming the field.

What is checked here is the shape of what the caller sent (ids, lengths, forms, ranges). The
rules on the parts of an object key live with the key layout (domain.keys); they are applied
here to the fields that become those parts.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fundledger.storage.v1 import storage_pb2 as pb
from fundledger_platform.auth.tenancy import calling_user
from fundledger_platform.errors import InvalidArgument
from fundledger_platform.fields import MAX_ID_LENGTH, malformed, required, text, uuid_field
from fundledger_platform.pagination import decode_page_token, page_size
from fundledger_platform.reasons import Reason

from storage.domain.keys import (
    check_entity_id,
    check_entity_type,
    check_owner,
    extension_of,
    has_control,
)
from storage.domain.model import FileMeta, ListScope
from storage.service_layer.access import named_user

DEFAULT_CONTENT_TYPE = "application/octet-stream"
MAX_FILE_NAME_LENGTH = 255
MAX_CONTENT_TYPE_LENGTH = 255
DEFAULT_EXPIRY_SECONDS = 3600
MAX_EXPIRY_SECONDS = 604_800  # 7 days: the longest a SigV4 pre-signed URL may live
# The event store's limit for user ids: refused here by our field name, not later by the store.
MAX_USER_ID_LENGTH = MAX_ID_LENGTH
# The kind of ListFiles' page tokens; their scope is the listing's, so a token passed with
# another owner or entity is refused instead of paging that listing from a foreign cursor.
FILES_PAGE = "files"

# RFC 6838 type/subtype names, then optional ASCII parameters ("; charset=utf-8").
_MIME_NAME = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
_CONTENT_TYPE = re.compile(rf"^{_MIME_NAME}/{_MIME_NAME}(\s*;[\x20-\x7e]*)?$")
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _too_long(field: str, limit: int) -> InvalidArgument:
    return InvalidArgument(
        f"{field}: longer than {limit} characters", reason=Reason.FIELD_TOO_LONG, field=field
    )


def check_file_name(value: str, field: str = "file_name") -> str:
    """The name is stored, not used in the key (only its extension is), but it is a name, not a
    path: separators and control characters are refused so it cannot mislead whoever saves the
    download under it."""
    required(value, field)
    if len(value) > MAX_FILE_NAME_LENGTH:
        raise _too_long(field, MAX_FILE_NAME_LENGTH)
    if "/" in value or "\\" in value or has_control(value) or value in (".", ".."):
        raise malformed(field, "must be a plain name (no '/', '\\' or control characters)")
    return value


def check_content_type(value: str, field: str = "content_type") -> str:
    if not value:
        return DEFAULT_CONTENT_TYPE
    if len(value) > MAX_CONTENT_TYPE_LENGTH:
        raise _too_long(field, MAX_CONTENT_TYPE_LENGTH)
    if not _CONTENT_TYPE.fullmatch(value):
        raise malformed(field, "is not a MIME type like 'application/pdf'")
    return value


def check_expected_sha256(value: str, field: str = "expected_sha256") -> str | None:
    if not value:
        return None
    if not _SHA256.fullmatch(value):
        raise malformed(field, "must be 64 hex digits")
    return value.lower()


def check_meta(
    *,
    owner_user_id: str,
    entity_type: str,
    entity_id: str,
    file_name: str,
    content_type: str,
    expected_sha256: str,
    prefix: str = "metadata.",
) -> FileMeta:
    name = check_file_name(file_name, f"{prefix}file_name")
    extension = extension_of(name, f"{prefix}file_name")
    return FileMeta(
        owner_user_id=check_owner(owner_user_id, f"{prefix}owner_user_id"),
        entity_type=check_entity_type(entity_type, f"{prefix}entity_type"),
        entity_id=check_entity_id(entity_id, f"{prefix}entity_id"),
        file_name=name,
        content_type=check_content_type(content_type, f"{prefix}content_type"),
        extension=extension,
        expected_sha256=check_expected_sha256(expected_sha256, f"{prefix}expected_sha256"),
    )


def upload_meta(message: pb.FileMetadata) -> FileMeta:
    """The upload's metadata; an empty owner is the calling person (the uploader checks that a
    named one is the caller unless they may act for others)."""
    return check_meta(
        owner_user_id=message.owner_user_id or calling_user() or "",
        entity_type=message.entity_type,
        entity_id=message.entity_id,
        file_name=message.file_name,
        content_type=message.content_type,
        expected_sha256=message.expected_sha256,
    )


def check_file_id(value: str, field: str = "file_id") -> uuid.UUID:
    return uuid_field(value, field)


def check_expiry(seconds: int, field: str = "expires_in_seconds") -> int:
    if seconds == 0:
        return DEFAULT_EXPIRY_SECONDS
    if not 1 <= seconds <= MAX_EXPIRY_SECONDS:
        raise InvalidArgument(
            f"{field} must be 1 to {MAX_EXPIRY_SECONDS} (0 = {DEFAULT_EXPIRY_SECONDS})",
            reason=Reason.EXPIRY_OUT_OF_RANGE,
            field=field,
        )
    return seconds


def check_user_id(value: str, field: str = "user_id") -> str:
    """An optional acting user: the caller when empty; naming anyone else needs
    ``users.act_for`` (PERMISSION_DENIED)."""
    return named_user(text(value, field, max_length=MAX_USER_ID_LENGTH))


def check_scope(owner_user_id: str, entity_type: str, entity_id: str) -> ListScope:
    """Owner alone, or entity type and id together; anything else is refused."""
    by_entity = bool(entity_type or entity_id)
    if owner_user_id and by_entity:
        raise InvalidArgument(
            "give owner_user_id or entity_type + entity_id, not both",
            reason=Reason.SCOPE_AMBIGUOUS,
            field="owner_user_id",
        )
    if owner_user_id:
        return ListScope(owner_user_id=check_owner(owner_user_id))
    if not by_entity:
        raise InvalidArgument(
            "owner_user_id or entity_type + entity_id is required",
            reason=Reason.SCOPE_REQUIRED,
            field="owner_user_id",
        )
    return ListScope(
        entity_type=check_entity_type(entity_type), entity_id=check_entity_id(entity_id)
    )


def scope_key(scope: ListScope) -> str:
    """The listing a page token belongs to (owners hold no '/', so the two forms never meet)."""
    if scope.owner_user_id is not None:
        return f"owner/{scope.owner_user_id}"
    return f"entity/{scope.entity_type}/{scope.entity_id}"


def cursor_micros(created_at: datetime) -> int:
    return (created_at - _EPOCH) // timedelta(microseconds=1)


def _files_cursor(parts: list[str]) -> tuple[datetime, uuid.UUID]:
    micros, file_id = parts
    if not micros.isdigit():
        raise ValueError(micros)
    return _EPOCH + timedelta(microseconds=int(micros)), uuid.UUID(file_id)


@dataclass(frozen=True, slots=True)
class FilesQuery:
    scope: ListScope
    size: int
    # The (created_at, file_id) of the last file already listed; None for the first page.
    after: tuple[datetime, uuid.UUID] | None


def files_query(request: pb.ListFilesRequest) -> FilesQuery:
    """The listing asked for. Neither an owner nor an entity: the calling person's own files.
    An owner other than the caller needs ``users.act_for`` (PERMISSION_DENIED)."""
    owner = request.owner_user_id
    if not owner and not (request.entity_type or request.entity_id):
        owner = calling_user() or ""
    scope = check_scope(owner, request.entity_type, request.entity_id)
    if scope.owner_user_id is not None:
        named_user(scope.owner_user_id)
    size = page_size(request.page_size)
    after = decode_page_token(request.page_token, FILES_PAGE, _files_cursor, scope=scope_key(scope))
    return FilesQuery(scope, size, after)
