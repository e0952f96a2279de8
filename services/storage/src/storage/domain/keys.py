"""Upload metadata validation and object keys.

Keys are `users/<owner>/<entity_type>s/<entity_id>/<file_id>.<ext>`. Every part
that comes from a caller is checked against a small charset with bounded
length, and `..`, `/`, `\\` and control characters are refused outright, so no
key can step out of its owner's prefix (or into another owner's) however the
object store treats separators and dot segments. The entity type and id also
follow the event store's stream-name rules, since `<entity_type>-<entity_id>`
is the stream FILE_ATTACHED goes to.
"""

from __future__ import annotations

import re
import unicodedata
from uuid import UUID

from fundledger_platform.errors import InvalidArgument

from storage.domain.model import FileMeta

FILES_PREFIX = "users/"
DEFAULT_CONTENT_TYPE = "application/octet-stream"

MAX_OWNER_LENGTH = 128
MAX_ENTITY_ID_LENGTH = 128
MAX_FILE_NAME_LENGTH = 255
MAX_CONTENT_TYPE_LENGTH = 255

# First character alphanumeric: no leading dot (".", "..", hidden names) or dash.
_OWNER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")
# The event store's category rule (lower-case, digits, '_', at most 50).
_ENTITY_TYPE = re.compile(r"^[a-z][a-z0-9_]{0,49}$")
# A subset of the event store's stream-id charset.
_ENTITY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
_EXTENSION = re.compile(r"^[a-z0-9]{1,16}$")
# RFC 6838 type/subtype names, then optional ASCII parameters ("; charset=utf-8").
_MIME_NAME = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
_CONTENT_TYPE = re.compile(rf"^{_MIME_NAME}/{_MIME_NAME}(\s*;[\x20-\x7e]*)?$")
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


def _invalid(field: str, message: str, reason: str = "INVALID_ARGUMENT") -> InvalidArgument:
    return InvalidArgument(f"{field} {message}", reason=reason, field=field)


def _has_control(text: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in text)


def _key_part(value: str, field: str, pattern: re.Pattern[str], max_length: int) -> str:
    if not value:
        raise _invalid(field, "is required")
    if len(value) > max_length:
        raise _invalid(field, f"is longer than {max_length} characters", "KEY_PART_INVALID")
    if "/" in value or "\\" in value or ".." in value or _has_control(value):
        raise _invalid(
            field,
            "must not contain '/', '\\', '..' or control characters",
            "KEY_PART_INVALID",
        )
    if not pattern.match(value):
        raise _invalid(field, f"has characters outside {pattern.pattern}", "KEY_PART_INVALID")
    return value


def check_owner(value: str, field: str = "owner_user_id") -> str:
    return _key_part(value, field, _OWNER, MAX_OWNER_LENGTH)


def check_entity_type(value: str, field: str = "entity_type") -> str:
    return _key_part(value, field, _ENTITY_TYPE, 50)


def check_entity_id(value: str, field: str = "entity_id") -> str:
    return _key_part(value, field, _ENTITY_ID, MAX_ENTITY_ID_LENGTH)


def check_file_name(value: str, field: str = "file_name") -> tuple[str, str]:
    """The file name and its extension (lower-case, "" when none).

    The name itself is stored, not used in the key, but it is a name, not a
    path: separators and control characters are refused so it cannot mislead
    whoever saves the download under it.
    """
    if not value:
        raise _invalid(field, "is required")
    if len(value) > MAX_FILE_NAME_LENGTH:
        raise _invalid(field, f"is longer than {MAX_FILE_NAME_LENGTH} characters")
    if "/" in value or "\\" in value or _has_control(value) or value in (".", ".."):
        raise _invalid(field, "must be a plain name (no '/', '\\' or control characters)")
    stem, dot, extension = value.rpartition(".")
    if not dot or not stem:  # "README", ".bashrc": no extension
        return value, ""
    extension = extension.lower()
    if not _EXTENSION.match(extension):
        raise _invalid(
            field,
            f"has extension {extension!r}; an extension is 1-16 letters or digits",
            "KEY_PART_INVALID",
        )
    return value, extension


def check_content_type(value: str, field: str = "content_type") -> str:
    if not value:
        return DEFAULT_CONTENT_TYPE
    if len(value) > MAX_CONTENT_TYPE_LENGTH or not _CONTENT_TYPE.match(value):
        raise _invalid(field, "is not a MIME type like 'application/pdf'")
    return value


def check_expected_sha256(value: str, field: str = "expected_sha256") -> str | None:
    if not value:
        return None
    if not _SHA256.match(value):
        raise _invalid(field, "must be 64 hex digits")
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
    name, extension = check_file_name(file_name, f"{prefix}file_name")
    return FileMeta(
        owner_user_id=check_owner(owner_user_id, f"{prefix}owner_user_id"),
        entity_type=check_entity_type(entity_type, f"{prefix}entity_type"),
        entity_id=check_entity_id(entity_id, f"{prefix}entity_id"),
        file_name=name,
        content_type=check_content_type(content_type, f"{prefix}content_type"),
        extension=extension,
        expected_sha256=check_expected_sha256(expected_sha256, f"{prefix}expected_sha256"),
    )


def owner_prefix(owner_user_id: str) -> str:
    """Where one owner's objects live (owner already checked)."""
    return f"{FILES_PREFIX}{owner_user_id}/"


def object_key(meta: FileMeta, file_id: UUID) -> str:
    suffix = f".{meta.extension}" if meta.extension else ""
    prefix = owner_prefix(meta.owner_user_id)
    key = f"{prefix}{meta.entity_type}s/{meta.entity_id}/{file_id}{suffix}"
    # Belt and braces: the checks above already make this impossible.
    if not key.startswith(prefix) or ".." in key or "//" in key or key.count("/") != 4:
        raise AssertionError(f"object key {key!r} escapes its prefix")
    return key
