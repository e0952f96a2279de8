"""One object upload: a single PutObject when small, multipart when large.

Memory: at most one part (plus the chunk being added) is buffered. A part is
sent only once more bytes than a part have arrived, so a file of at most one
part goes up in one PutObject, and every multipart part but the last is
exactly `part_bytes` (S3 wants at least 5 MiB for all but the last part).

Checksums: each request carries the SHA-256 of its body (ChecksumSHA256,
base64), and the multipart upload is created with ChecksumAlgorithm=SHA256 so
every part is checked on arrival and CompleteMultipartUpload lists the part
checksums. The store refuses a body whose hash differs (BadDigest), so bytes
corrupted on the way never become an object. For a multipart object S3's
object checksum is the COMPOSITE one (SHA-256 of the part digests, "-<parts>");
when the store returns it, it is compared with our own. SeaweedFS 4.48 does
all of this (verified by the tests); the full-file SHA-256 the service records
is computed by the use case, not taken from the store.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
from collections.abc import Mapping
from typing import Any

from storage.adapters.s3_client import s3_errors
from storage.service_layer.errors import object_store_unavailable

log = logging.getLogger(__name__)


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


async def _digest(data: bytes) -> bytes:
    # hashlib releases the GIL on large buffers: hash a whole part off the event loop.
    return await asyncio.to_thread(_sha256, data) if len(data) > 1 << 20 else _sha256(data)


class S3Upload:
    def __init__(
        self,
        client: Any,
        bucket: str,
        key: str,
        content_type: str,
        metadata: Mapping[str, str],
        part_bytes: int,
    ) -> None:
        self._client = client
        self._bucket = bucket
        self._key = key
        self._content_type = content_type
        self._metadata = dict(metadata)
        self._part_bytes = part_bytes
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._part_digests: list[bytes] = []
        self._completed = False

    @property
    def multipart(self) -> bool:
        return self._upload_id is not None

    async def write(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) > self._part_bytes:
            with memoryview(self._buffer) as view:
                part = bytes(view[: self._part_bytes])
            del self._buffer[: self._part_bytes]
            await self._send_part(part)

    async def complete(self) -> None:
        if self._upload_id is None:
            await self._put_whole()
        else:
            if self._buffer:
                await self._send_part(bytes(self._buffer))
            self._buffer.clear()
            await self._complete_multipart()
        self._completed = True

    async def abort(self) -> None:
        self._buffer.clear()
        if self._completed:
            with s3_errors("delete_object"):
                await self._client.delete_object(Bucket=self._bucket, Key=self._key)
        elif self._upload_id is not None:
            with s3_errors("abort_multipart_upload"):
                await self._client.abort_multipart_upload(
                    Bucket=self._bucket, Key=self._key, UploadId=self._upload_id
                )

    async def _put_whole(self) -> None:
        body = bytes(self._buffer)
        self._buffer.clear()
        checksum = _b64(await _digest(body))
        with s3_errors("put_object"):
            await self._client.put_object(
                Bucket=self._bucket,
                Key=self._key,
                Body=body,
                ContentType=self._content_type,
                Metadata=self._metadata,
                ChecksumSHA256=checksum,
            )

    async def _send_part(self, part: bytes) -> None:
        if self._upload_id is None:
            with s3_errors("create_multipart_upload"):
                created = await self._client.create_multipart_upload(
                    Bucket=self._bucket,
                    Key=self._key,
                    ContentType=self._content_type,
                    Metadata=self._metadata,
                    ChecksumAlgorithm="SHA256",
                )
            self._upload_id = str(created["UploadId"])
        number = len(self._parts) + 1
        digest = await _digest(part)
        checksum = _b64(digest)
        with s3_errors("upload_part"):
            sent = await self._client.upload_part(
                Bucket=self._bucket,
                Key=self._key,
                UploadId=self._upload_id,
                PartNumber=number,
                Body=part,
                ChecksumAlgorithm="SHA256",
                ChecksumSHA256=checksum,
            )
        self._parts.append({"PartNumber": number, "ETag": sent["ETag"], "ChecksumSHA256": checksum})
        self._part_digests.append(digest)

    async def _complete_multipart(self) -> None:
        with s3_errors("complete_multipart_upload"):
            done = await self._client.complete_multipart_upload(
                Bucket=self._bucket,
                Key=self._key,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts},
            )
        # From here on the object exists: abort() must delete it.
        self._completed = True
        composite = f"{_b64(_sha256(b''.join(self._part_digests)))}-{len(self._parts)}"
        returned = done.get("ChecksumSHA256")
        composite_type = done.get("ChecksumType", "COMPOSITE") == "COMPOSITE"
        if returned and composite_type and returned != composite:
            raise object_store_unavailable(
                f"complete_multipart_upload: composite checksum {returned}, expected {composite}"
            )
