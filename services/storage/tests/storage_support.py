"""Builders, uploads and look-ups shared by the storage tests."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
from botocore.exceptions import ClientError
from fundledger.eventstore.v1 import eventstore_pb2 as es
from fundledger.eventstore.v1.events_pb2 import RecordedEvent
from fundledger.storage.v1 import storage_pb2 as pb
from fundledger_platform.errors import bad_request
from storage_stack import Stack

from tests.support.rpc_errors import reason_of as reason_of

UPLOAD_CHUNK = 1024 * 1024


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def new_owner() -> str:
    return f"user-{uuid.uuid4().hex[:12]}"


def metadata(**overrides: str) -> pb.FileMetadata:
    fields = {
        "owner_user_id": new_owner(),
        "entity_type": "fund",
        "entity_id": str(uuid.uuid4()),
        "file_name": "report.pdf",
        "content_type": "application/pdf",
    }
    fields.update(overrides)
    return pb.FileMetadata(**fields)


async def requests_for(
    meta: pb.FileMetadata | None, data: bytes, chunk: int = UPLOAD_CHUNK
) -> AsyncIterator[pb.UploadFileRequest]:
    if meta is not None:
        yield pb.UploadFileRequest(metadata=meta)
    for start in range(0, len(data), chunk):
        yield pb.UploadFileRequest(chunk=data[start : start + chunk])


async def upload(
    stack: Stack, meta: pb.FileMetadata, data: bytes, chunk: int = UPLOAD_CHUNK
) -> pb.FileRecord:
    response: pb.UploadFileResponse = await stack.api.UploadFile(requests_for(meta, data, chunk))
    return response.file


async def download(stack: Stack, file_id: str) -> tuple[list[pb.DownloadFileResponse], bytes]:
    messages = [m async for m in stack.api.DownloadFile(pb.DownloadFileRequest(file_id=file_id))]
    return messages, b"".join(m.chunk for m in messages)


async def stream_events(stack: Stack, stream_id: str) -> list[RecordedEvent]:
    try:
        return [
            e
            async for page in stack.store_stub.ReadStream(es.ReadStreamRequest(stream_id=stream_id))
            for e in page.events
        ]
    except grpc.aio.AioRpcError as err:
        if err.code() == grpc.StatusCode.NOT_FOUND:
            return []
        raise


def event_data(event: RecordedEvent) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(event.data)
    return data


async def object_keys(stack: Stack, prefix: str = "users/") -> list[str]:
    listed = await stack.s3.list_objects_v2(Bucket=stack.bucket, Prefix=prefix)
    return [item["Key"] for item in listed.get("Contents", [])]


async def pending_multipart_uploads(stack: Stack) -> list[Any]:
    listed = await stack.s3.list_multipart_uploads(Bucket=stack.bucket)
    return list(listed.get("Uploads", []))


async def object_exists(stack: Stack, key: str) -> bool:
    try:
        await stack.s3.head_object(Bucket=stack.bucket, Key=key)
    except ClientError as err:
        if err.response["ResponseMetadata"]["HTTPStatusCode"] == 404:
            return False
        raise
    return True


async def record_count(stack: Stack, owner: str) -> int:
    value = await stack.storage.pool.fetchval(
        "SELECT count(*) FROM storage.files WHERE owner_user_id = $1", owner
    )
    return int(value)


def field_of(err: grpc.aio.AioRpcError) -> str:
    details = bad_request(err)
    assert details is not None, f"no BadRequest in {err}"
    assert details.field_violations, f"no field violation in {err}"
    return str(details.field_violations[0].field)


async def assert_nothing_stored(stack: Stack, owner: str, stream_id: str | None) -> None:
    """No object, no unfinished multipart upload, no record, no event (on a valid stream)."""
    assert await object_keys(stack, f"users/{owner}/") == []
    assert await pending_multipart_uploads(stack) == []
    assert await record_count(stack, owner) == 0
    if stream_id is not None:
        assert await stream_events(stack, stream_id) == []
