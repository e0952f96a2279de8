"""DownloadFile: stream the object back, verifying it against its record as it goes.

The chunks are sent as they are read, so a corrupted object cannot be caught
before its bytes have gone out: the hash (and size) is checked at the end and
a mismatch fails the call with DATA_LOSS after the last chunk. A client must
therefore treat the content as valid only when the call ends OK.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from uuid import UUID

from storage import metrics
from storage.domain.model import FileRecord
from storage.service_layer.errors import content_corrupted, file_not_found, object_missing
from storage.service_layer.ports import FileRepository, ObjectMissing, ObjectStore
from storage.service_layer.queries import live_file


@dataclass(frozen=True)
class Piece:
    chunk: bytes
    record: FileRecord | None = None  # on the first piece only


async def download(
    files: FileRepository, objects: ObjectStore, file_id: UUID, chunk_bytes: int
) -> AsyncIterator[Piece]:
    record = await live_file(files, file_id)
    digest = hashlib.sha256()
    size = 0
    first = True
    try:
        async with objects.open(record.object_key) as body:
            async for chunk in body.chunks(chunk_bytes):
                digest.update(chunk)
                size += len(chunk)
                yield Piece(chunk, record if first else None)
                first = False
    except ObjectMissing:
        if await files.get(file_id) is None:  # deleted meanwhile: not a loss
            raise file_not_found(file_id) from None
        raise object_missing(record.file_id, record.object_key) from None
    if first:  # an empty file still sends its record
        yield Piece(b"", record)
    metrics.DOWNLOADED_BYTES.inc(size)
    if size != record.size:
        metrics.DOWNLOAD_CORRUPTIONS.inc()
        raise content_corrupted(record.file_id, f"size {size}, recorded {record.size}")
    if digest.hexdigest() != record.sha256:
        metrics.DOWNLOAD_CORRUPTIONS.inc()
        raise content_corrupted(
            record.file_id, f"sha256 {digest.hexdigest()}, recorded {record.sha256}"
        )
