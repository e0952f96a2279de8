"""ListFiles: by owner or by entity, newest first, opaque page tokens."""

from __future__ import annotations

import uuid

import grpc
import pytest
from fundledger.storage.v1 import storage_pb2 as pb
from storage_stack import Stack
from storage_support import field_of, metadata, new_owner, reason_of, upload


async def list_all(stack: Stack, page_size: int, **scope: str) -> list[pb.FileRecord]:
    files: list[pb.FileRecord] = []
    token = ""
    while True:
        page = await stack.api.ListFiles(
            pb.ListFilesRequest(page_size=page_size, page_token=token, **scope)
        )
        files.extend(page.files)
        token = page.next_page_token
        if not token:
            return files


async def test_list_by_owner_and_by_entity_newest_first(stack: Stack) -> None:
    owner, fund = new_owner(), str(uuid.uuid4())
    mine = [
        await upload(stack, metadata(owner_user_id=owner, entity_id=fund), f"{i}".encode())
        for i in range(5)
    ]
    other_owner = await upload(stack, metadata(entity_id=fund), b"other owner, same fund")
    await upload(stack, metadata(owner_user_id=owner), b"same owner, other fund")

    by_owner = await list_all(stack, 2, owner_user_id=owner)
    assert len(by_owner) == 6
    times = [f.create_time.ToDatetime() for f in by_owner]
    assert times == sorted(times, reverse=True)
    assert {f.file_id for f in mine} <= {f.file_id for f in by_owner}

    by_entity = await list_all(stack, 2, entity_type="fund", entity_id=fund)
    assert [f.file_id for f in by_entity] == [other_owner.file_id] + [
        f.file_id for f in reversed(mine)
    ]
    # One page with everything: no token.
    single = await stack.api.ListFiles(pb.ListFilesRequest(owner_user_id=owner))
    assert len(single.files) == 6
    assert single.next_page_token == ""


async def test_list_scope_and_token_errors(stack: Stack) -> None:
    owner = new_owner()
    for i in range(3):
        await upload(stack, metadata(owner_user_id=owner), f"{i}".encode())
    first = await stack.api.ListFiles(pb.ListFilesRequest(owner_user_id=owner, page_size=1))
    assert first.next_page_token

    bad_requests = [
        # (No owner and no entity lists the caller's own files: test_isolation.py.)
        (
            pb.ListFilesRequest(owner_user_id=owner, entity_type="fund", entity_id="x"),
            "SCOPE_AMBIGUOUS",
        ),
        (pb.ListFilesRequest(entity_type="fund"), "FIELD_REQUIRED"),
        (pb.ListFilesRequest(owner_user_id="../x"), "KEY_PART_INVALID"),
        (pb.ListFilesRequest(owner_user_id=owner, page_size=-1), "PAGE_SIZE_INVALID"),
        (pb.ListFilesRequest(owner_user_id=owner, page_token="garbage"), "INVALID_PAGE_TOKEN"),
        # A token from another listing is refused, not misread.
        (
            pb.ListFilesRequest(owner_user_id=new_owner(), page_token=first.next_page_token),
            "INVALID_PAGE_TOKEN",
        ),
    ]
    for request, reason in bad_requests:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stack.api.ListFiles(request)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, request
        assert reason_of(caught.value) == reason, request
        assert field_of(caught.value)
