"""GetSignedUrl: a pre-signed GET that plain HTTP can fetch, until it expires."""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from urllib.parse import urlsplit

import grpc
import pytest
from fundledger.storage.v1 import storage_pb2 as pb
from storage_stack import Stack
from storage_support import metadata, reason_of, upload


def fetch(url: str) -> tuple[int, bytes]:
    # Only ever the local SeaweedFS: refuse anything else.
    assert urlsplit(url).hostname == "127.0.0.1", url
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as err:
        return int(err.code), err.read()


async def test_signed_url_works_then_expires(stack: Stack) -> None:
    data = b"signed content"
    record = await upload(stack, metadata(file_name="memo.txt", content_type="text/plain"), data)

    default = await stack.api.GetSignedUrl(pb.GetSignedUrlRequest(file_id=record.file_id))
    lifetime = default.expire_time.ToDatetime(tzinfo=UTC) - datetime.now(UTC)
    assert 3590 < lifetime.total_seconds() <= 3600
    assert await asyncio.to_thread(fetch, default.url) == (200, data)

    short = await stack.api.GetSignedUrl(
        pb.GetSignedUrlRequest(file_id=record.file_id, expires_in_seconds=2)
    )
    assert "X-Amz-Expires=2" in short.url
    expire_at = short.expire_time.ToDatetime(tzinfo=UTC)
    # Whole-second signing dates leave a 2 s URL between 1 and 2 s of life.
    assert await asyncio.to_thread(fetch, short.url) == (200, data)
    await asyncio.sleep(max(0.0, (expire_at - datetime.now(UTC)).total_seconds()))
    deadline = time.monotonic() + 5
    while (await asyncio.to_thread(fetch, short.url))[0] != 403:
        assert time.monotonic() < deadline, "the signed URL still works after its expiry"
        await asyncio.sleep(0.2)


async def test_expiry_bounds_and_unknown_file(stack: Stack) -> None:
    record = await upload(stack, metadata(), b"x")
    for seconds in (-1, 604_801, 10**12):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stack.api.GetSignedUrl(
                pb.GetSignedUrlRequest(file_id=record.file_id, expires_in_seconds=seconds)
            )
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert reason_of(caught.value) == "EXPIRY_OUT_OF_RANGE"
    longest = await stack.api.GetSignedUrl(
        pb.GetSignedUrlRequest(file_id=record.file_id, expires_in_seconds=604_800)
    )
    assert "X-Amz-Expires=604800" in longest.url
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stack.api.GetSignedUrl(
            pb.GetSignedUrlRequest(file_id="00000000-0000-4000-8000-000000000000")
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
