"""Read-only use cases: metadata, existence, listing and pre-signed URLs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from storage.domain.model import FileRecord, ListScope
from storage.service_layer.errors import file_not_found
from storage.service_layer.ports import FileRepository, ObjectStore


async def live_file(files: FileRepository, file_id: UUID) -> FileRecord:
    record = await files.get(file_id)
    if record is None:
        raise file_not_found(file_id)
    return record


@dataclass(frozen=True)
class Page:
    files: list[FileRecord]
    # The last record of this page when another page follows.
    next_after: FileRecord | None


async def list_page(
    files: FileRepository, scope: ListScope, after: tuple[datetime, UUID] | None, size: int
) -> Page:
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
    record = await live_file(files, file_id)
    # SigV4 signs with X-Amz-Date in whole seconds (truncated), taken while
    # signing, i.e. at or after this line: truncating our clock the same way
    # gives an expiry that is never later than the URL's real one.
    now = datetime.now(UTC).replace(microsecond=0)
    url = await objects.presign_get(record.object_key, expires_seconds)
    return SignedUrl(url, now + timedelta(seconds=expires_seconds))
