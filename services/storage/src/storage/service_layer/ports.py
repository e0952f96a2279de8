"""What the use cases need from the outside world (implemented in adapters/)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from storage.domain.events import EntityEvent
from storage.domain.model import FileRecord, ListScope


class ObjectMissing(Exception):
    """The object store has no object under the key."""


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    last_modified: datetime


class ObjectUpload(Protocol):
    """One object being written: bytes in, then complete() or abort().

    Nothing is visible under the key before complete() returns; abort() after
    a failure leaves nothing behind (aborts the multipart upload, or deletes
    the object when complete() had already succeeded).
    """

    async def write(self, data: bytes) -> None: ...

    async def complete(self) -> None: ...

    async def abort(self) -> None: ...


class ObjectBody(Protocol):
    size: int

    def chunks(self, chunk_bytes: int) -> AsyncIterator[bytes]: ...


class ObjectStore(Protocol):
    def open_upload(
        self, key: str, content_type: str, metadata: Mapping[str, str]
    ) -> ObjectUpload: ...

    def open(self, key: str) -> AbstractAsyncContextManager[ObjectBody]:
        """The object's body; raises ObjectMissing when there is none."""
        ...

    async def delete(self, key: str) -> None: ...

    async def presign_get(self, key: str, expires_seconds: int) -> str: ...

    async def tenant_of(self, key: str) -> str | None:
        """The tenant written into the object's metadata at upload (None: none, or no object)."""
        ...

    def list_objects(self, prefix: str) -> AsyncIterator[ObjectInfo]: ...


class FileTransaction(Protocol):
    """Writes inside one database transaction, committed when the block ends cleanly."""

    async def insert(self, record: FileRecord) -> FileRecord:
        """Inserts the record; returns it with created_at."""
        ...

    async def mark_deleted(self, file_id: UUID, owner_user_id: str | None) -> FileRecord | None:
        """Soft-deletes a live record of the caller's tenant (and of `owner_user_id` when
        given), locking it; None when there is none."""
        ...


class FileRepository(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[FileTransaction]: ...

    async def get(self, file_id: UUID) -> FileRecord | None:
        """The live record (None when unknown, deleted or of another tenant than the caller's)."""
        ...

    async def page(
        self, scope: ListScope, before: tuple[datetime, UUID] | None, limit: int
    ) -> list[FileRecord]:
        """Live records of the scope in the caller's tenant, newest first, strictly after the
        cursor."""
        ...

    async def count(self, owner_user_id: str | None, created_by: datetime) -> int: ...

    async def batch(
        self, owner_user_id: str | None, created_by: datetime, after: UUID | None, limit: int
    ) -> list[FileRecord]:
        """Live records created by `created_by`, in file id order, after `after`."""
        ...

    async def live_keys(self, keys: list[str]) -> set[str]:
        """Which of these object keys belong to a live record."""
        ...


class EventLog(Protocol):
    async def append(self, event: EntityEvent) -> bool:
        """Appends one event idempotently; True when it was a replay (already there)."""
        ...
