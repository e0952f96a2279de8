"""DeleteFile: object gone, record flagged, FILE_DETACHED on the entity stream."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from fundledger.storage.v1 import storage_pb2 as pb
from storage_stack import Stack
from storage_support import (
    download,
    event_data,
    metadata,
    object_exists,
    reason_of,
    stream_events,
    upload,
)


async def test_delete_removes_object_flags_record_and_detaches(stack: Stack) -> None:
    meta = metadata()
    record = await upload(stack, meta, b"to be deleted")
    kept = await upload(stack, metadata(owner_user_id=meta.owner_user_id), b"kept")

    deleted = await stack.api.DeleteFile(
        pb.DeleteFileRequest(file_id=record.file_id, user_id="admin-7")
    )
    assert deleted.file == record

    assert not await object_exists(stack, record.object_key)
    assert await object_exists(stack, kept.object_key)
    row = await stack.storage.pool.fetchrow(
        "SELECT deleted_at FROM storage.files WHERE file_id = $1::uuid", record.file_id
    )
    assert row is not None
    assert row["deleted_at"] is not None

    assert not (await stack.api.FileExists(pb.FileExistsRequest(file_id=record.file_id))).exists
    for call in (
        stack.api.GetFileMetadata(pb.GetFileMetadataRequest(file_id=record.file_id)),
        stack.api.DeleteFile(pb.DeleteFileRequest(file_id=record.file_id)),
        stack.api.GetSignedUrl(pb.GetSignedUrlRequest(file_id=record.file_id)),
        download(stack, record.file_id),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        assert reason_of(caught.value) == "FILE_NOT_FOUND"

    listed = await stack.api.ListFiles(pb.ListFilesRequest(owner_user_id=meta.owner_user_id))
    assert [f.file_id for f in listed.files] == [kept.file_id]

    events = await stream_events(stack, f"fund-{meta.entity_id}")
    assert [e.event_type for e in events] == ["FILE_ATTACHED", "FILE_DETACHED"]
    assert event_data(events[1]) == {"fileId": record.file_id}
    # The event names the verified caller (alice, the fixture's admin), never the request's user_id.
    assert events[1].user_id == "alice"


async def test_concurrent_deletes_detach_once(stack: Stack) -> None:
    meta = metadata()
    record = await upload(stack, meta, b"raced")
    results = await asyncio.gather(
        *(stack.api.DeleteFile(pb.DeleteFileRequest(file_id=record.file_id)) for _ in range(4)),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(
        r.code() == grpc.StatusCode.NOT_FOUND
        for r in results
        if isinstance(r, grpc.aio.AioRpcError)
    )
    events = await stream_events(stack, f"fund-{meta.entity_id}")
    assert [e.event_type for e in events] == ["FILE_ATTACHED", "FILE_DETACHED"]
