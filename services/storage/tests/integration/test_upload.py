"""UploadFile and DownloadFile: round trips, checksums, limits and malformed streams."""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import AsyncIterator

import grpc
import pytest
from fundledger.storage.v1 import storage_pb2 as pb
from storage.config import MIB
from storage_stack import TEST_PART_BYTES, Stack, StackFactory
from storage_support import (
    assert_nothing_stored,
    download,
    event_data,
    field_of,
    metadata,
    object_keys,
    pending_multipart_uploads,
    reason_of,
    requests_for,
    sha256_hex,
    stream_events,
    upload,
)


async def test_small_file_round_trip_with_checksum(stack: Stack) -> None:
    data = b"quarterly report\n" * 100
    meta = metadata(file_name="Q3 Report.PDF", expected_sha256=sha256_hex(data).upper())
    record = await upload(stack, meta, data, chunk=500)

    assert record.size_bytes == len(data)
    assert record.sha256 == sha256_hex(data)
    assert record.file_name == "Q3 Report.PDF"
    assert record.content_type == "application/pdf"
    assert record.object_key == (
        f"users/{meta.owner_user_id}/funds/{meta.entity_id}/{record.file_id}.pdf"
    )
    assert record.HasField("create_time")

    # One PutObject carrying our SHA-256 as the object's checksum.
    head = await stack.s3.head_object(
        Bucket=stack.bucket, Key=record.object_key, ChecksumMode="ENABLED"
    )
    assert head["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert head["ContentType"] == "application/pdf"

    messages, content = await download(stack, record.file_id)
    assert content == data
    assert messages[0].file == record
    assert all(not m.HasField("file") for m in messages[1:])

    metadata_response = await stack.api.GetFileMetadata(
        pb.GetFileMetadataRequest(file_id=record.file_id)
    )
    assert metadata_response.file == record
    exists = await stack.api.FileExists(pb.FileExistsRequest(file_id=record.file_id))
    assert exists.exists

    events = await stream_events(stack, f"fund-{meta.entity_id}")
    assert [e.event_type for e in events] == ["FILE_ATTACHED"]
    # The verified uploader (alice, an admin storing it for its owner), not a request field.
    assert events[0].user_id == "alice"
    assert event_data(events[0]) == {
        "fileId": record.file_id,
        "fileName": "Q3 Report.PDF",
        "contentType": "application/pdf",
        "sizeBytes": len(data),
        "sha256": record.sha256,
        "objectKey": record.object_key,
    }


async def test_large_file_goes_multipart_and_round_trips(stack: Stack) -> None:
    data = os.urandom(2 * TEST_PART_BYTES + 1 * MIB + 123)  # three parts
    meta = metadata(file_name="deck.bin", expected_sha256=sha256_hex(data))
    record = await upload(stack, meta, data, chunk=MIB)
    assert record.size_bytes == len(data)
    assert record.sha256 == sha256_hex(data)

    # A multipart object: S3's checksum is the composite of the three part SHA-256s.
    head = await stack.s3.head_object(
        Bucket=stack.bucket, Key=record.object_key, ChecksumMode="ENABLED"
    )
    assert head["ContentLength"] == len(data)
    parts = [data[i : i + TEST_PART_BYTES] for i in range(0, len(data), TEST_PART_BYTES)]
    composite = hashlib.sha256(b"".join(hashlib.sha256(p).digest() for p in parts)).digest()
    assert head["ChecksumSHA256"] == f"{base64.b64encode(composite).decode()}-3"
    assert await pending_multipart_uploads(stack) == []

    messages, content = await download(stack, record.file_id)
    assert sha256_hex(content) == sha256_hex(data)
    assert max(len(m.chunk) for m in messages) <= 64 * 1024
    assert len(await stream_events(stack, f"fund-{meta.entity_id}")) == 1


async def test_empty_file_and_file_without_extension(stack: Stack) -> None:
    meta = metadata(file_name="README", content_type="")
    record = await upload(stack, meta, b"")
    assert record.size_bytes == 0
    assert record.sha256 == sha256_hex(b"")
    assert record.content_type == "application/octet-stream"
    assert record.object_key.endswith(f"/{record.file_id}")
    messages, content = await download(stack, record.file_id)
    assert content == b""
    assert len(messages) == 1
    assert messages[0].file == record


async def test_wrong_expected_checksum_stores_nothing(stack: Stack) -> None:
    # A small file (refused before its PutObject) and a multipart one (aborted).
    for size in (1000, 2 * TEST_PART_BYTES + 10):
        meta = metadata(expected_sha256=sha256_hex(b"something else"))
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await upload(stack, meta, os.urandom(size))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert reason_of(caught.value) == "CHECKSUM_MISMATCH"
        await assert_nothing_stored(stack, meta.owner_user_id, f"fund-{meta.entity_id}")


async def test_file_over_the_limit_is_refused_and_cleaned_up(stack_factory: StackFactory) -> None:
    stack = await stack_factory(max_file_bytes=TEST_PART_BYTES + MIB)
    meta = metadata()
    # Past one part, so a multipart upload was under way when the limit hit.
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await upload(stack, meta, os.urandom(TEST_PART_BYTES + 2 * MIB))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert reason_of(caught.value) == "FILE_TOO_LARGE"
    await assert_nothing_stored(stack, meta.owner_user_id, f"fund-{meta.entity_id}")
    # Exactly at the limit is fine.
    record = await upload(stack, meta, os.urandom(TEST_PART_BYTES + MIB))
    assert record.size_bytes == TEST_PART_BYTES + MIB


async def test_metadata_must_come_first_and_only_once(stack: Stack) -> None:
    meta = metadata()

    async def chunk_first() -> AsyncIterator[pb.UploadFileRequest]:
        yield pb.UploadFileRequest(chunk=b"data")
        yield pb.UploadFileRequest(metadata=meta)

    async def metadata_twice() -> AsyncIterator[pb.UploadFileRequest]:
        yield pb.UploadFileRequest(metadata=meta)
        yield pb.UploadFileRequest(chunk=b"data")
        yield pb.UploadFileRequest(metadata=meta)

    async def empty_message() -> AsyncIterator[pb.UploadFileRequest]:
        yield pb.UploadFileRequest(metadata=meta)
        yield pb.UploadFileRequest()

    cases = [
        (requests_for(None, b""), "METADATA_REQUIRED"),
        (chunk_first(), "METADATA_REQUIRED"),
        (metadata_twice(), "METADATA_REPEATED"),
        (empty_message(), "CONTENT_REQUIRED"),
    ]
    for requests, reason in cases:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stack.api.UploadFile(requests)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert reason_of(caught.value) == reason
    await assert_nothing_stored(stack, meta.owner_user_id, f"fund-{meta.entity_id}")


async def test_unknown_or_malformed_file_ids(stack: Stack) -> None:
    unknown = "00000000-0000-4000-8000-000000000000"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await download(stack, unknown)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert reason_of(caught.value) == "FILE_NOT_FOUND"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stack.api.GetFileMetadata(pb.GetFileMetadataRequest(file_id=unknown))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert not (await stack.api.FileExists(pb.FileExistsRequest(file_id=unknown))).exists
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stack.api.FileExists(pb.FileExistsRequest(file_id="../etc/passwd"))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert re.search("UUID", caught.value.details() or "")


async def test_upload_with_unsafe_key_parts_is_invalid_argument(stack: Stack) -> None:
    cases = [
        ("owner_user_id", "../victim"),
        ("owner_user_id", "a/b"),
        ("entity_id", "x\x01y"),
        ("entity_type", "fund" * 20),
        ("file_name", "..\\..\\evil.exe"),
    ]
    for field, value in cases:
        meta = metadata(**{field: value})
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await upload(stack, meta, b"payload")
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field_of(caught.value) == f"metadata.{field}"
        if field != "owner_user_id":
            stream = None if field.startswith("entity") else f"fund-{meta.entity_id}"
            await assert_nothing_stored(stack, meta.owner_user_id, stream)
    assert await object_keys(stack) == []
