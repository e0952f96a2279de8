"""The bucket as the use cases' ObjectStore port (aioboto3)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from botocore.exceptions import ClientError

from storage.adapters.s3_client import ensure_bucket, is_not_found, s3_errors
from storage.adapters.s3_upload import S3Upload
from storage.domain.keys import OBJECT_TENANT
from storage.service_layer.ports import ObjectInfo, ObjectMissing

log = logging.getLogger(__name__)

READY_TIMEOUT_SECONDS = 2.0


class S3Body:
    """An object's body, read in chunks of a chosen size."""

    def __init__(self, response: Mapping[str, Any]) -> None:
        self.size = int(response["ContentLength"])
        self._body = response["Body"]

    async def chunks(self, chunk_bytes: int) -> AsyncIterator[bytes]:
        # read(n) returns what the socket has (often less than n): gather up
        # to n so the caller gets chunks of the size it asked for.
        pending = bytearray()
        while True:
            with s3_errors("get_object body"):
                data = await self._body.read(chunk_bytes - len(pending))
            if not data:
                break
            pending += data
            if len(pending) >= chunk_bytes:
                yield bytes(pending)
                pending.clear()
        if pending:
            yield bytes(pending)

    def close(self) -> None:
        self._body.close()


class S3Objects:
    def __init__(self, client: Any, bucket: str, region: str, part_bytes: int) -> None:
        self._client = client
        self._bucket = bucket
        self._region = region
        self._part_bytes = part_bytes
        self._bucket_ensured = False

    async def ensure_bucket(self) -> None:
        with s3_errors("create bucket"):
            await ensure_bucket(self._client, self._bucket, self._region)
        self._bucket_ensured = True

    async def ready(self) -> bool:
        """True when the bucket answers (readiness). Until the bucket has been
        ensured once — the store may have been down at start-up — this also
        creates it when missing."""
        try:
            async with asyncio.timeout(READY_TIMEOUT_SECONDS):
                if not self._bucket_ensured:
                    await self.ensure_bucket()
                else:
                    await self._client.head_bucket(Bucket=self._bucket)
        except Exception as err:  # any failure means "not ready", never a crash
            log.debug("object store not ready: %r", err)
            return False
        return True

    def open_upload(self, key: str, content_type: str, metadata: Mapping[str, str]) -> S3Upload:
        return S3Upload(self._client, self._bucket, key, content_type, metadata, self._part_bytes)

    @asynccontextmanager
    async def open(self, key: str) -> AsyncIterator[S3Body]:
        with s3_errors("get_object"):
            try:
                response = await self._client.get_object(Bucket=self._bucket, Key=key)
            except ClientError as err:
                if is_not_found(err):
                    raise ObjectMissing(key) from None
                raise
        body = S3Body(response)
        try:
            yield body
        finally:
            # Releases the connection, also when the reader stopped early.
            body.close()

    async def delete(self, key: str) -> None:
        with s3_errors("delete_object"):
            await self._client.delete_object(Bucket=self._bucket, Key=key)

    async def presign_get(self, key: str, expires_seconds: int) -> str:
        # Signed locally (no request): the URL names the configured endpoint.
        url: str = await self._client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self._bucket, "Key": key},
            ExpiresIn=expires_seconds,
        )
        return url

    async def tenant_of(self, key: str) -> str | None:
        with s3_errors("head_object"):
            try:
                response = await self._client.head_object(Bucket=self._bucket, Key=key)
            except ClientError as err:
                if is_not_found(err):
                    return None
                raise
        tenant = response.get("Metadata", {}).get(OBJECT_TENANT)
        return str(tenant) if tenant else None

    async def list_objects(self, prefix: str) -> AsyncIterator[ObjectInfo]:
        paginator = self._client.get_paginator("list_objects_v2")
        with s3_errors("list_objects_v2"):
            async for page in paginator.paginate(Bucket=self._bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    yield ObjectInfo(
                        key=item["Key"], size=int(item["Size"]), last_modified=item["LastModified"]
                    )
