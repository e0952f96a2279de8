"""VerifyFiles finds tampered, missing and orphaned objects; DownloadFile catches tampering."""

from __future__ import annotations

import os
import uuid

import grpc
import pytest
from fundledger.storage.v1 import storage_pb2 as pb
from storage_stack import Stack
from storage_support import download, metadata, new_owner, reason_of, upload

KINDS = {
    pb.FINDING_KIND_MISSING: "MISSING",
    pb.FINDING_KIND_MISMATCHED: "MISMATCHED",
    pb.FINDING_KIND_ORPHANED: "ORPHANED",
}


async def verify(stack: Stack, owner: str = "") -> list[pb.VerifyFilesResponse]:
    request = pb.VerifyFilesRequest(owner_user_id=owner)
    return [m async for m in stack.api.VerifyFiles(request)]


def findings(messages: list[pb.VerifyFilesResponse]) -> dict[str, str]:
    """object key -> finding kind."""
    return {m.finding.object_key: KINDS[m.finding.kind] for m in messages if m.HasField("finding")}


async def test_verify_reports_tampered_missing_and_orphaned(stack: Stack) -> None:
    owner = new_owner()
    contents = [os.urandom(1000 + i) for i in range(5)]
    records = [await upload(stack, metadata(owner_user_id=owner), c) for c in contents]
    other = await upload(stack, metadata(), b"another owner's file")
    tampered, resized, missing = records[0], records[1], records[2]

    # Behind the service's back, with our own client.
    same_size = bytes(b ^ 0xFF for b in contents[0])
    await stack.s3.put_object(Bucket=stack.bucket, Key=tampered.object_key, Body=same_size)
    await stack.s3.put_object(Bucket=stack.bucket, Key=resized.object_key, Body=b"short")
    await stack.s3.delete_object(Bucket=stack.bucket, Key=missing.object_key)
    orphan = f"users/{owner}/funds/{uuid.uuid4()}/{uuid.uuid4()}.pdf"
    # What an upload of tenant "dev" (the caller's) that crashed before its record leaves behind.
    await stack.s3.put_object(
        Bucket=stack.bucket, Key=orphan, Body=b"nobody's", Metadata={"tenant": "dev"}
    )

    messages = await verify(stack, owner)
    assert findings(messages) == {
        tampered.object_key: "MISMATCHED",
        resized.object_key: "MISMATCHED",
        missing.object_key: "MISSING",
        orphan: "ORPHANED",
    }
    by_key = {m.finding.object_key: m.finding for m in messages if m.HasField("finding")}
    assert by_key[tampered.object_key].file_id == tampered.file_id
    assert "sha256" in by_key[tampered.object_key].detail
    assert "size" in by_key[resized.object_key].detail
    assert by_key[orphan].file_id == ""
    last = messages[-1]
    assert last.done
    assert all(not m.done for m in messages[:-1])
    assert (last.checked, last.total) == (5, 5)
    assert (last.missing, last.mismatched, last.orphaned) == (1, 2, 1)
    # Progress every 2 files (test setting); a finding's message reports progress too.
    progress = [m.checked for m in messages if not m.HasField("finding") and not m.done]
    assert all(c % 2 == 0 for c in progress)
    assert {2, 4} <= {m.checked for m in messages if not m.done}
    assert all(m.total == 5 for m in messages)

    # Unscoped: every owner's files, the other owner's file is fine.
    everything = await verify(stack)
    assert everything[-1].total == 6
    assert other.object_key not in findings(everything)
    assert len(findings(everything)) == 4


async def test_download_of_tampered_object_ends_in_data_loss(stack: Stack) -> None:
    data = os.urandom(200_000)  # several 64 KiB chunks
    record = await upload(stack, metadata(), data)
    await stack.s3.put_object(
        Bucket=stack.bucket, Key=record.object_key, Body=bytes(reversed(data))
    )
    received: list[pb.DownloadFileResponse] = []

    async def receive() -> None:
        request = pb.DownloadFileRequest(file_id=record.file_id)
        async for message in stack.api.DownloadFile(request):
            received.append(message)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await receive()
    assert caught.value.code() == grpc.StatusCode.DATA_LOSS
    assert reason_of(caught.value) == "CONTENT_MISMATCH"
    # The bytes went out before the hash could be checked; the status says not to trust them.
    assert len(received) > 1
    assert received[0].file.file_id == record.file_id

    gone = await upload(stack, metadata(), b"soon missing")
    await stack.s3.delete_object(Bucket=stack.bucket, Key=gone.object_key)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await download(stack, gone.file_id)
    assert caught.value.code() == grpc.StatusCode.DATA_LOSS
    assert reason_of(caught.value) == "OBJECT_MISSING"


async def test_verify_with_nothing_stored(stack: Stack) -> None:
    messages = await verify(stack, new_owner())
    assert len(messages) == 1
    assert messages[0].done
    assert messages[0].total == 0
