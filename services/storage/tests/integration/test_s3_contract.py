"""What the service relies on from the object store, checked against SeaweedFS itself.

The upload sends its own SHA-256 with every PutObject and UploadPart; these
tests pin down that the store really refuses a body whose hash differs (so a
corrupted transfer never becomes an object) and the 5 MiB part minimum that
settles STORAGE_PART_BYTES' lower bound.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import pytest
from botocore.exceptions import ClientError
from fundledger_devstack.s3 import S3Server
from storage.adapters.s3_client import error_code, open_client
from storage.config import MIB, S3Settings


def b64_sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


@pytest.fixture
async def s3(s3_server: S3Server) -> AsyncIterator[tuple[Any, str]]:
    settings = S3Settings(
        endpoint=s3_server.endpoint,
        region=s3_server.region,
        bucket=f"t-{uuid.uuid4().hex[:16]}",
        access_key=s3_server.access_key,
        secret_key=s3_server.secret_key,
        path_style=True,
    )
    async with AsyncExitStack() as stack:
        client = await open_client(settings, stack)
        await client.create_bucket(Bucket=settings.bucket)
        yield client, settings.bucket


async def test_store_refuses_a_body_whose_sha256_differs(s3: tuple[Any, str]) -> None:
    client, bucket = s3
    with pytest.raises(ClientError) as caught:
        await client.put_object(
            Bucket=bucket, Key="users/x/a.txt", Body=b"sent", ChecksumSHA256=b64_sha256(b"meant")
        )
    assert error_code(caught.value) == "BadDigest"

    created = await client.create_multipart_upload(
        Bucket=bucket, Key="users/x/b.bin", ChecksumAlgorithm="SHA256"
    )
    with pytest.raises(ClientError) as caught:
        await client.upload_part(
            Bucket=bucket,
            Key="users/x/b.bin",
            UploadId=created["UploadId"],
            PartNumber=1,
            Body=b"sent",
            ChecksumAlgorithm="SHA256",
            ChecksumSHA256=b64_sha256(b"meant"),
        )
    assert error_code(caught.value) == "BadDigest"
    await client.abort_multipart_upload(
        Bucket=bucket, Key="users/x/b.bin", UploadId=created["UploadId"]
    )
    assert (await client.list_objects_v2(Bucket=bucket)).get("KeyCount", 0) == 0


async def test_parts_under_five_mib_are_refused(s3: tuple[Any, str]) -> None:
    client, bucket = s3
    key = "users/x/small-parts.bin"
    created = await client.create_multipart_upload(Bucket=bucket, Key=key)
    parts = []
    for number, body in enumerate((b"a" * MIB, b"b" * 10), start=1):
        sent = await client.upload_part(
            Bucket=bucket, Key=key, UploadId=created["UploadId"], PartNumber=number, Body=body
        )
        parts.append({"PartNumber": number, "ETag": sent["ETag"]})
    with pytest.raises(ClientError) as caught:
        await client.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=created["UploadId"], MultipartUpload={"Parts": parts}
        )
    assert error_code(caught.value) == "EntityTooSmall"
    await client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=created["UploadId"])
