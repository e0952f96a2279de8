"""UploadFile's request stream -> validated metadata + an iterator of chunks.

The contract: exactly one metadata message, first; then only chunks. Anything
else is INVALID_ARGUMENT, raised while reading, so the upload in progress is
discarded by the use case like any other failure.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator

from fundledger.storage.v1 import storage_pb2 as pb
from fundledger_platform.errors import InvalidArgument
from fundledger_platform.reasons import Reason

from storage.domain.model import FileMeta
from storage.entrypoints.requests import upload_meta


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
