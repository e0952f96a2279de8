"""What the storage service knows about a file, and what verification finds."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID


@dataclass(frozen=True)
class FileMeta:
    """An upload's metadata after validation (see domain.keys)."""

    owner_user_id: str
    entity_type: str
    entity_id: str
    file_name: str
    content_type: str
    # Lower-case, without the dot; "" when the name has none.
    extension: str
    # Lower-case hex, or None when the uploader gave none.
    expected_sha256: str | None


@dataclass(frozen=True)
class FileRecord:
    file_id: UUID
    object_key: str
    size: int
    content_type: str
    sha256: str  # lower-case hex
    owner_user_id: str
    entity_type: str
    entity_id: str
    file_name: str
    created_at: datetime | None = None  # set by the database
    # The tenant the file belongs to and the verified person who uploaded it (from the
    # uploader's token); None when stored without authentication.
    tenant: str | None = None
    created_by: str | None = None

    @property
    def stream_id(self) -> str:
        """The owning entity's event stream, `<entity_type>-<entity_id>`."""
        return f"{self.entity_type}-{self.entity_id}"


@dataclass(frozen=True)
class ListScope:
    """An owner, or an entity (type and id); an entity's listing is narrowed to one owner
    (`owner_user_id` set too) for a person who may see only their own files."""

    owner_user_id: str | None = None
    entity_type: str | None = None
    entity_id: str | None = None


class FindingKind(enum.Enum):
    MISSING = "MISSING"  # a live record whose object is gone
    MISMATCHED = "MISMATCHED"  # an object whose SHA-256 or size differs from its record
    ORPHANED = "ORPHANED"  # an object under users/ with no live record


@dataclass(frozen=True)
class Finding:
    kind: FindingKind
    object_key: str
    detail: str
    file_id: UUID | None = None


@dataclass(frozen=True)
class VerifyProgress:
    """Records checked so far; carries a finding when one was just made."""

    checked: int
    total: int
    finding: Finding | None = None


@dataclass(frozen=True)
class VerifySummary:
    checked: int
    total: int
    missing: int
    mismatched: int
    orphaned: int
