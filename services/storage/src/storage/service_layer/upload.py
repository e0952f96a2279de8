"""UploadFile: stream the bytes to the object store, then record and attach the file.

The content is never held whole: chunks go straight into the object upload,
which keeps at most one part in memory (see adapters.s3_upload). The SHA-256
is computed here as the bytes pass, independently of the per-part checksums
the object store verifies, and is what the record and FILE_ATTACHED carry.

Failure rule: nothing half-made stays visible. Until the object upload
completes, abort() discards it (a multipart upload is aborted, a single
PutObject never started). After that, any failure to record and attach the
file (attach.py) deletes the object again. A process crash between the
completed object and the commit leaves an object without a record, which
VerifyFiles reports as ORPHANED.

Ownership: the file belongs to the caller's tenant and records the verified person who
uploaded it (`created_by`); its owner is the request's `owner_user_id` (the caller when empty,
entrypoints.requests), which must name the caller unless they hold ``users.act_for``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import AsyncIterator

from fundledger_platform.auth.tenancy import (
    calling_user,
    require_self_or_act_for,
    tenant_of_new,
)

from storage import metrics
from storage.domain.keys import OBJECT_TENANT, object_key
from storage.domain.model import FileMeta, FileRecord
from storage.service_layer.attach import record_and_attach
from storage.service_layer.errors import checksum_mismatch, file_too_large
from storage.service_layer.ports import EventLog, FileRepository, ObjectStore, ObjectUpload

log = logging.getLogger(__name__)


class Uploader:
    def __init__(
        self,
        objects: ObjectStore,
        files: FileRepository,
        events: EventLog,
        max_file_bytes: int,
    ) -> None:
        self._objects = objects
        self._files = files
        self._events = events
        self._max_file_bytes = max_file_bytes

    async def upload(self, meta: FileMeta, chunks: AsyncIterator[bytes]) -> FileRecord:
        # Who may store it, before a byte is written: the owner named in the request must be
        # the caller unless they may act for others (PERMISSION_DENIED), and a person's file
        # belongs to their tenant (TENANT_MISSING when their token names none).
        require_self_or_act_for(meta.owner_user_id)
        tenant = tenant_of_new()
        file_id = uuid.uuid4()
        key = object_key(meta, file_id)
        object_meta = {"file-id": str(file_id)}
        if tenant is not None:
            # So VerifyFiles can tell a person which orphaned objects are their tenant's.
            object_meta[OBJECT_TENANT] = tenant
        upload = self._objects.open_upload(key, meta.content_type, object_meta)
        try:
            size, sha256 = await self._stream(upload, meta, chunks)
            await upload.complete()
            record = FileRecord(
                file_id=file_id,
                object_key=key,
                size=size,
                content_type=meta.content_type,
                sha256=sha256,
                owner_user_id=meta.owner_user_id,
                entity_type=meta.entity_type,
                entity_id=meta.entity_id,
                file_name=meta.file_name,
                tenant=tenant,
                created_by=calling_user(),
            )
            stored = await record_and_attach(self._files, self._events, record)
        except BaseException:
            # Also on cancellation (the client hung up): the upload must not linger.
            await _discard(upload, key)
            metrics.UPLOADS.labels("failed").inc()
            raise
        metrics.UPLOADS.labels("stored").inc()
        metrics.UPLOADED_BYTES.inc(size)
        return stored

    async def _stream(
        self, upload: ObjectUpload, meta: FileMeta, chunks: AsyncIterator[bytes]
    ) -> tuple[int, str]:
        digest = hashlib.sha256()
        size = 0
        async for chunk in chunks:
            size += len(chunk)
            if size > self._max_file_bytes:
                # Stop reading at once: the rest of the stream is never consumed.
                raise file_too_large(self._max_file_bytes)
            digest.update(chunk)
            await upload.write(chunk)
        sha256 = digest.hexdigest()
        if meta.expected_sha256 is not None and sha256 != meta.expected_sha256:
            raise checksum_mismatch(meta.expected_sha256, sha256)
        return size, sha256


async def _discard(upload: ObjectUpload, key: str) -> None:
    try:
        # Shielded: a second cancellation must not cut the clean-up short.
        await asyncio.shield(upload.abort())
    except BaseException:
        # The original failure is what the caller must see; this one leaves an
        # object (or an unfinished multipart upload) that VerifyFiles reports.
        log.exception("could not discard the object of a failed upload", extra={"key": key})
