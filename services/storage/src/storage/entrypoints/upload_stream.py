"""UploadFile's request stream -> validated metadata + an iterator of chunks.

The contract: exactly one metadata message, first; then only chunks. Anything
else is INVALID_ARGUMENT, raised while reading, so the upload in progress is
discarded by the use case like any other failure.

A refused upload reads on, discarding, what the client still sends (a bounded
amount, `drain`) before it answers: a grpc.aio client that is still writing when
the server ends the call can report INTERNAL ("Internal error from Core",
grpc/grpc#36066) instead of the status the server sent.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator

from fundledger.storage.v1 import storage_pb2 as pb
from fundledger_platform.errors import InvalidArgument
from fundledger_platform.reasons import Reason

from storage.domain.model import FileMeta
from storage.entrypoints.requests import upload_meta

# What a refused upload reads on at most before it answers.
DRAIN_MAX_MESSAGES = 64
DRAIN_MAX_BYTES = 8 * 1024 * 1024


async def split_upload(
    requests: AsyncIterator[pb.UploadFileRequest],
) -> tuple[FileMeta, AsyncGenerator[bytes, None]]:
    first = await anext(requests, None)
    if first is None or first.WhichOneof("content") != "metadata":
        raise InvalidArgument(
            "the first message of an upload must carry the metadata",
            reason=Reason.METADATA_REQUIRED,
            field="metadata",
        )
    return upload_meta(first.metadata), _chunks(requests)


async def _chunks(requests: AsyncIterator[pb.UploadFileRequest]) -> AsyncGenerator[bytes, None]:
    async for request in requests:
        kind = request.WhichOneof("content")
        if kind == "chunk":
            if request.chunk:
                yield request.chunk
        elif kind == "metadata":
            raise InvalidArgument(
                "metadata may only be sent once, in the first message",
                reason=Reason.METADATA_REPEATED,
                field="metadata",
            )
        else:
            raise InvalidArgument(
                "an upload message must carry metadata or a chunk",
                reason=Reason.CONTENT_REQUIRED,
                field="content",
            )


async def drain(requests: AsyncIterator[pb.UploadFileRequest]) -> None:
    """Reads and discards the rest of a refused upload stream, up to the bounds above, so
    the client has half-closed (and reads our status) when the refusal is sent."""
    count = size = 0
    # A stream that fails while being drained (the client went away) has nothing more to say.
    with contextlib.suppress(Exception):
        async for request in requests:
            count += 1
            size += request.ByteSize()
            if count >= DRAIN_MAX_MESSAGES or size >= DRAIN_MAX_BYTES:
                return
