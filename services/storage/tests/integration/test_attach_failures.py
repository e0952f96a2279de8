"""FILE_ATTACHED exactly once; a failed append leaves no record and no object."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace

import grpc
import pytest
from fundledger.storage.v1 import storage_pb2 as pb
from fundledger_platform.auth.forwarding import forwarding
from fundledger_platform.errors import error_info
from fundledger_platform.eventstore_errors import eventstore_error
from storage.domain.events import EntityEvent, attach_event, detach_event
from storage.service_layer.errors import AppendRejected
from storage.service_layer.ports import EventLog
from storage_stack import TEST_PART_BYTES, Stack, StackFactory
from storage_support import (
    assert_nothing_stored,
    metadata,
    object_keys,
    pending_multipart_uploads,
    reason_of,
    record_count,
    stream_events,
    upload,
)

from tests.support.event_store import EventStoreFactory


def store_error(code: grpc.StatusCode, details: str) -> grpc.aio.AioRpcError:
    """What the event-store client raises when the store answers `code`."""
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details, None)


class ScriptedLog:
    """The real event log, with FILE_ATTACHED failing as the test says."""

    def __init__(self, real: EventLog, failure: str) -> None:
        self._real = real
        self._failure = failure

    async def append(self, event: EntityEvent) -> bool:
        if event.event_type != "FILE_ATTACHED":
            return await self._real.append(event)
        if self._failure == "rejected":
            raise AppendRejected(
                eventstore_error(store_error(grpc.StatusCode.FAILED_PRECONDITION, "refused (test)"))
            )
        # "lost": the append lands, but its answer never comes back.
        await self._real.append(event)
        raise eventstore_error(store_error(grpc.StatusCode.DEADLINE_EXCEEDED, "lost (test)"))


async def test_the_append_is_idempotent_by_file_id(stack: Stack) -> None:
    meta = metadata()
    uploaded = await upload(stack, meta, b"attach me once")
    record = await stack.storage.files.get(uuid.UUID(uploaded.file_id))
    assert record is not None

    # Re-running the append step for the same file (a retry after a lost
    # answer, a second attempt after a failed commit) writes nothing new. It runs
    # inside the person's call, so it is made for them: as alice, the uploader.
    with forwarding(stack.secure.token()):
        assert await stack.storage.events.append(attach_event(record)) is True
        assert await stack.storage.events.append(attach_event(record)) is True
    events = await stream_events(stack, f"fund-{meta.entity_id}")
    assert [e.event_type for e in events] == ["FILE_ATTACHED"]

    await stack.api.DeleteFile(pb.DeleteFileRequest(file_id=uploaded.file_id))
    # The same FILE_DETACHED again: it names the caller of the delete (alice, the fixture's admin).
    with forwarding(stack.secure.token()):
        assert await stack.storage.events.append(detach_event(record, "alice")) is True
    events = await stream_events(stack, f"fund-{meta.entity_id}")
    assert [e.event_type for e in events] == ["FILE_ATTACHED", "FILE_DETACHED"]


async def test_rejected_append_leaves_no_record_no_object_no_event(
    stack: Stack, stack_factory: StackFactory
) -> None:
    failing = await stack_factory(events=ScriptedLog(stack.storage.events, "rejected"))
    for size in (1000, TEST_PART_BYTES + 1000):  # one PutObject, and a multipart upload
        meta = metadata()
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await upload(failing, meta, os.urandom(size))
        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert reason_of(caught.value) == "EVENT_STORE_REJECTED"
        await assert_nothing_stored(failing, meta.owner_user_id, f"fund-{meta.entity_id}")


class KeyReusingLog:
    """The real event log, sending FILE_ATTACHED to a side stream with an idempotency key that
    stream already used for another request: the real store refuses it for good."""

    def __init__(self, real: EventLog, side_stream: str) -> None:
        self._real = real
        self._side_stream = side_stream

    async def append(self, event: EntityEvent) -> bool:
        if event.event_type != "FILE_ATTACHED":
            return await self._real.append(event)
        taken = replace(event, stream_id=self._side_stream, idempotency_key="taken")
        await self._real.append(replace(taken, event_id=uuid.uuid4()))
        return await self._real.append(taken)


async def test_append_refused_by_the_store_is_forwarded_and_not_compensated(
    stack: Stack, stack_factory: StackFactory
) -> None:
    side_stream = f"fund-{uuid.uuid4()}"
    failing = await stack_factory(events=KeyReusingLog(stack.storage.events, side_stream))
    meta = metadata()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await upload(failing, meta, b"refused by the store")
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert reason_of(caught.value) == "IDEMPOTENCY_KEY_REUSED"
    info = error_info(caught.value)
    assert info is not None
    assert info.metadata["eventstore_code"] == "FAILED_PRECONDITION"
    # Nothing of the upload, and no FILE_DETACHED: a refusal wrote nothing to undo.
    await assert_nothing_stored(failing, meta.owner_user_id, f"fund-{meta.entity_id}")
    assert [e.event_type for e in await stream_events(stack, side_stream)] == ["FILE_ATTACHED"]


async def test_append_with_lost_answer_is_compensated(
    stack: Stack, stack_factory: StackFactory
) -> None:
    failing = await stack_factory(events=ScriptedLog(stack.storage.events, "lost"))
    meta = metadata()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await upload(failing, meta, b"attached, then rolled back")
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert reason_of(caught.value) == "EVENT_STORE_UNAVAILABLE"
    assert await record_count(failing, meta.owner_user_id) == 0
    assert await object_keys(failing, f"users/{meta.owner_user_id}/") == []
    # The FILE_ATTACHED that did land is undone by a FILE_DETACHED of the same file.
    events = await stream_events(stack, f"fund-{meta.entity_id}")
    assert [e.event_type for e in events] == ["FILE_ATTACHED", "FILE_DETACHED"]


async def test_event_store_down_means_no_upload_and_not_serving(
    stack_factory: StackFactory, event_store_factory: EventStoreFactory
) -> None:
    # A store of our own, so stopping it leaves the stack's shared one alone.
    store = await event_store_factory()
    stack = await stack_factory(eventstore_address=f"127.0.0.1:{store.server.port}")
    assert await stack.storage.server.health.refresh()
    await store.server.stop(0.5)
    assert not await stack.storage.server.health.refresh()

    meta = metadata()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await upload(stack, meta, b"nowhere to attach")
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert reason_of(caught.value) == "EVENT_STORE_UNAVAILABLE"
    await assert_nothing_stored(stack, meta.owner_user_id, stream_id=None)


async def test_cancelled_upload_aborts_its_multipart_upload(stack: Stack) -> None:
    meta = metadata()
    hold = asyncio.Event()

    async def requests() -> AsyncIterator[pb.UploadFileRequest]:
        yield pb.UploadFileRequest(metadata=meta)
        yield pb.UploadFileRequest(chunk=os.urandom(TEST_PART_BYTES + 1000))
        await hold.wait()  # never set: the client hangs up here

    call = stack.api.UploadFile(requests())
    deadline = time.monotonic() + 10
    while not await pending_multipart_uploads(stack):
        assert time.monotonic() < deadline, "the first part never went up"
        await asyncio.sleep(0.05)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    while await pending_multipart_uploads(stack):
        assert time.monotonic() < deadline, "the multipart upload was not aborted"
        await asyncio.sleep(0.05)
    assert await object_keys(stack, f"users/{meta.owner_user_id}/") == []
    assert await record_count(stack, meta.owner_user_id) == 0
