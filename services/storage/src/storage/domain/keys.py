"""Object keys and the rules on every part of them.

Keys are `users/<owner>/<entity_type>s/<entity_id>/<file_id>.<ext>`. Every part
that comes from a caller is checked against a small charset with bounded
length, and `..`, `/`, `\\` and control characters are refused outright, so no
key can step out of its owner's prefix (or into another owner's) however the
object store treats separators and dot segments. The entity type is a stream
category (the kernel's rule) and the entity id a subset of a stream's id, within
lengths that keep `<entity_type>-<entity_id>`, the stream FILE_ATTACHED goes to,
a valid stream id.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from uuid import UUID

from fundledger_kernel.streams import MAX_STREAM_ID_LENGTH, category_of
from fundledger_platform.errors import InvalidArgument
from fundledger_platform.fields import required
from fundledger_platform.reasons import Reason

from storage.domain.model import FileMeta

FILES_PREFIX = "users/"
# The object metadata entry naming the tenant a file was uploaded for (none without one).
OBJECT_TENANT = "tenant"

MAX_OWNER_LENGTH = 128
MAX_ENTITY_ID_LENGTH = 128

# First character alphanumeric: no leading dot (".", "..", hidden names) or dash.
_OWNER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")
# A subset of the stream-id charset.
_ENTITY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
_EXTENSION = re.compile(r"^[a-z0-9]{1,16}$")


def _invalid_part(field: str, message: str) -> InvalidArgument:
    return InvalidArgument(f"{field} {message}", reason=Reason.KEY_PART_INVALID, field=field)


def has_control(text: str) -> bool:
    """Control, format (bidi overrides, zero-width) or line/paragraph separator characters."""
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in text)


def _key_part(
    value: str, field: str, allowed: Callable[[str], bool], rule: str, max_length: int
) -> str:
    required(value, field)
    if len(value) > max_length:
        raise _invalid_part(field, f"is longer than {max_length} characters")
    if "/" in value or "\\" in value or ".." in value or has_control(value):
        raise _invalid_part(field, "must not contain '/', '\\', '..' or control characters")
    if not allowed(value):
        raise _invalid_part(field, rule)
    return value


def _matches(pattern: re.Pattern[str]) -> Callable[[str], bool]:
    return lambda value: pattern.match(value) is not None


def _is_stream_category(value: str) -> bool:
    return category_of(f"{value}-0") == value


def check_owner(value: str, field: str = "owner_user_id") -> str:
    rule = f"has characters outside {_OWNER.pattern}"
    return _key_part(value, field, _matches(_OWNER), rule, MAX_OWNER_LENGTH)


def check_entity_type(value: str, field: str = "entity_type") -> str:
    # The category rule bounds its length itself.
    rule = "is not a stream category (lower-case letters, digits, '_'; a letter first)"
    return _key_part(value, field, _is_stream_category, rule, MAX_STREAM_ID_LENGTH)


def check_entity_id(value: str, field: str = "entity_id") -> str:
    rule = f"has characters outside {_ENTITY_ID.pattern}"
    return _key_part(value, field, _matches(_ENTITY_ID), rule, MAX_ENTITY_ID_LENGTH)


def extension_of(file_name: str, field: str = "file_name") -> str:
    """The key's extension: the file name's, lower-cased; "" when it has none."""
    stem, dot, extension = file_name.rpartition(".")
    if not dot or not stem:  # "README", ".bashrc": no extension
        return ""
    extension = extension.lower()
    if not _EXTENSION.match(extension):
        raise _invalid_part(
            field, f"has extension {extension!r}; an extension is 1-16 letters or digits"
        )
    return extension


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
