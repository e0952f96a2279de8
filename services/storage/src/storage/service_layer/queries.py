"""Read-only use cases: metadata, existence, listing and pre-signed URLs."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from uuid import UUID

from storage.domain.model import FileRecord, ListScope
from storage.service_layer.access import may_see, owner_limit
from storage.service_layer.errors import file_not_found
from storage.service_layer.ports import FileRepository, ObjectStore


async def visible_file(files: FileRepository, file_id: UUID) -> FileRecord | None:
    """The live record when the caller may see it: its tenant (checked by the query) and
    their own file unless they may act for others. None otherwise, exactly as for a file that
    does not exist."""
    record = await files.get(file_id)
    return record if record is not None and may_see(record) else None


async def live_file(files: FileRepository, file_id: UUID) -> FileRecord:
    record = await visible_file(files, file_id)
    if record is None:
        raise file_not_found(file_id)
    return record


async def file_exists(files: FileRepository, file_id: UUID) -> bool:
    return await visible_file(files, file_id) is not None


@dataclass(frozen=True)
class Page:
    files: list[FileRecord]
    # The last record of this page when another page follows.
    next_after: FileRecord | None


async def list_page(
    files: FileRepository, scope: ListScope, after: tuple[datetime, UUID] | None, size: int
) -> Page:
    # A person who may see only their own files lists only those, also by entity.
    limit = owner_limit()
    if limit is not None and scope.owner_user_id is None:
        scope = replace(scope, owner_user_id=limit)
    # One more than asked tells whether another page follows without a count.
    rows = await files.page(scope, after, size + 1)
    if len(rows) > size:
        return Page(rows[:size], rows[size - 1])
    return Page(rows, None)


@dataclass(frozen=True)
class SignedUrl:
    url: str
    expire_time: datetime


async def signed_url(
    files: FileRepository, objects: ObjectStore, file_id: UUID, expires_seconds: int
) -> SignedUrl:
    # Checked before anything is signed: a URL is issued only for a file the caller may read.
    record = await live_file(files, file_id)
    # SigV4 signs with X-Amz-Date in whole seconds (truncated), taken while
    # signing, i.e. at or after this line: truncating our clock the same way
    # gives an expiry that is never later than the URL's real one.
    now = datetime.now(UTC).replace(microsecond=0)
    url = await objects.presign_get(record.object_key, expires_seconds)
    return SignedUrl(url, now + timedelta(seconds=expires_seconds))
