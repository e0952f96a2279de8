"""StorageService: parse the request (entrypoints.requests), call the use case, map the result.

Domain errors raised here become gRPC statuses in the platform's interceptor.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import grpc
from fundledger.storage.v1 import storage_pb2 as pb
from fundledger.storage.v1 import storage_pb2_grpc
from fundledger_platform.errors import DomainError
from fundledger_platform.timestamps import to_timestamp

from storage.domain.keys import check_owner
from storage.entrypoints import mappers as m
from storage.entrypoints.requests import (
    check_expiry,
    check_file_id,
    check_user_id,
    files_query,
)
from storage.entrypoints.upload_stream import drain, split_upload
from storage.service_layer.access import named_user, owner_limit
from storage.service_layer.delete import delete_file
from storage.service_layer.download import download
from storage.service_layer.ports import EventLog, FileRepository, ObjectStore
from storage.service_layer.queries import file_exists, list_page, live_file, signed_url
from storage.service_layer.upload import Uploader
from storage.service_layer.verify import Verifier

Context = grpc.aio.ServicerContext[Any, Any]


class StorageServicer(storage_pb2_grpc.StorageServiceServicer):
    def __init__(
        self,
        files: FileRepository,
        objects: ObjectStore,
        events: EventLog,
        uploader: Uploader,
        verifier: Verifier,
        chunk_bytes: int,
    ) -> None:
        self._files = files
        self._objects = objects
        self._events = events
        self._uploader = uploader
        self._verifier = verifier
        self._chunk_bytes = chunk_bytes

    async def UploadFile(  # type: ignore[override]
        self, request_iterator: AsyncIterator[pb.UploadFileRequest], context: Context
    ) -> pb.UploadFileResponse:
        try:
            meta, chunks = await split_upload(request_iterator)
            # aclosing: an upload refused mid-stream (too large, bad message) stops
            # reading its content at once; the generator is closed now, not at garbage
            # collection.
            async with aclosing(chunks):
                record = await self._uploader.upload(meta, chunks)
        except DomainError:
            await drain(request_iterator)  # so the client reads our status (upload_stream.py)
            raise
        return pb.UploadFileResponse(file=m.file_record(record))

    async def DownloadFile(  # type: ignore[override]
        self, request: pb.DownloadFileRequest, context: Context
    ) -> AsyncIterator[pb.DownloadFileResponse]:
        file_id = check_file_id(request.file_id)
        async for piece in download(self._files, self._objects, file_id, self._chunk_bytes):
            response = pb.DownloadFileResponse(chunk=piece.chunk)
            if piece.record is not None:
                response.file.CopyFrom(m.file_record(piece.record))
            yield response

    async def DeleteFile(
        self, request: pb.DeleteFileRequest, context: Context
    ) -> pb.DeleteFileResponse:
        file_id = check_file_id(request.file_id)
        user_id = check_user_id(request.user_id)
        record = await delete_file(self._files, self._events, self._objects, file_id, user_id)
        return pb.DeleteFileResponse(file=m.file_record(record))

    async def FileExists(
        self, request: pb.FileExistsRequest, context: Context
    ) -> pb.FileExistsResponse:
        file_id = check_file_id(request.file_id)
        return pb.FileExistsResponse(exists=await file_exists(self._files, file_id))

    async def GetFileMetadata(
        self, request: pb.GetFileMetadataRequest, context: Context
    ) -> pb.GetFileMetadataResponse:
        record = await live_file(self._files, check_file_id(request.file_id))
        return pb.GetFileMetadataResponse(file=m.file_record(record))

    async def ListFiles(
        self, request: pb.ListFilesRequest, context: Context
    ) -> pb.ListFilesResponse:
        query = files_query(request)
        page = await list_page(self._files, query.scope, query.after, query.size)
        response = pb.ListFilesResponse(files=[m.file_record(r) for r in page.files])
        if page.next_after is not None:
            response.next_page_token = m.next_page_token(query.scope, page.next_after)
        return response

    async def GetSignedUrl(
        self, request: pb.GetSignedUrlRequest, context: Context
    ) -> pb.GetSignedUrlResponse:
        file_id = check_file_id(request.file_id)
        expires = check_expiry(request.expires_in_seconds)
        signed = await signed_url(self._files, self._objects, file_id, expires)
        return pb.GetSignedUrlResponse(url=signed.url, expire_time=to_timestamp(signed.expire_time))

    async def VerifyFiles(  # type: ignore[override]
        self, request: pb.VerifyFilesRequest, context: Context
    ) -> AsyncIterator[pb.VerifyFilesResponse]:
        # A named owner must be the caller unless they may act for others; none means every
        # owner the caller may see (their own files only, without users.act_for).
        if request.owner_user_id:
            owner: str | None = named_user(check_owner(request.owner_user_id))
        else:
            owner = owner_limit()
        async for item in self._verifier.run(owner):
            yield m.verify_response(item)
