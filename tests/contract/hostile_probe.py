"""The hostile-input test's targets: a Probe that seeds valid requests (a fund, a stream, a
file) and the write checks that prove a refused call wrote nothing."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import grpc
from fundledger.allocation.v1 import allocation_pb2
from fundledger.eventstore.v1 import events_pb2, eventstore_pb2, eventstore_pb2_grpc
from fundledger.snapshotter.v1 import snapshotter_pb2, snapshotter_pb2_grpc
from fundledger.storage.v1 import storage_pb2, storage_pb2_grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from tests.contract.hostile_cases import (
    Rpc,
    real_oneof,
)

# A call that has not answered by then hangs; the server's own DEADLINE_EXCEEDED (with a
# reason, e.g. MIN_VERSION_NOT_REACHED) is an answer.
CALL_SECONDS = 10.0


def call_metadata() -> tuple[tuple[str, str], ...]:
    """What every call sends besides its request: nothing, the channels carry the token
    (TLS + an admin's bearer token, see test_hostile_input.stack)."""
    return ()


def message_class(descriptor: Descriptor) -> type[Message]:
    return message_factory.GetMessageClass(descriptor)


# -- what the calls work on ----------------------------------------------------------------------


class Probe:
    """The stack's channels and the data the base requests name: one fund with two companies
    (reserves planned for one), files uploaded on demand, fresh streams."""

    def __init__(self, channels: dict[str, grpc.aio.Channel], endpoint_of: dict[str, str]) -> None:
        self.channels = channels
        self.endpoint_of = endpoint_of  # service full name -> endpoint name
        self.events = eventstore_pb2_grpc.EventStoreServiceStub(self.channel("EventStoreService"))
        self.files = storage_pb2_grpc.StorageServiceStub(self.channel("StorageService"))
        self.snapshots = snapshotter_pb2_grpc.SnapshotterServiceStub(
            self.channel("SnapshotterService")
        )
        self.fund_id = f"fund-hostile-{uuid.uuid4().hex}"
        self.uploaded: set[str] = set()

    def channel(self, service: str) -> grpc.aio.Channel:
        for full_name, endpoint in self.endpoint_of.items():
            if full_name.rsplit(".", 1)[-1] == service:
                return self.channels[endpoint]
        raise KeyError(service)

    async def create_fund(self) -> None:
        created = {"name": "Hostile", "committed_capital_cents": 10**8, "currency": "EUR"}
        payloads = [
            ("FUND_CREATED", created),
            ("COMPANY_ADDED", {"company_id": "c1", "name": "One"}),
            ("COMPANY_ADDED", {"company_id": "c2", "name": "Two"}),
            ("RESERVE_ALLOCATED", {"company_id": "c1", "planned_reserves_cents": 1000}),
        ]
        await self.events.AppendToStream(
            eventstore_pb2.AppendToStreamRequest(
                stream_id=self.fund_id,
                expected_state=eventstore_pb2.STREAM_STATE_NO_STREAM,
                events=[
                    events_pb2.EventData(event_type=t, data=json.dumps(d).encode())
                    for t, d in payloads
                ],
            ),
            timeout=CALL_SECONDS,
            metadata=call_metadata(),
        )

    @staticmethod
    def fresh_stream() -> str:
        return f"hostile-{uuid.uuid4().hex}"

    @staticmethod
    def event() -> events_pb2.EventData:
        return events_pb2.EventData(
            event_id=str(uuid.uuid4()),
            event_type="CAPITAL_CALLED",
            data=b'{"amount_cents":100}',
            user_id="hostile-user",
        )

    @staticmethod
    def file_metadata() -> storage_pb2.FileMetadata:
        return storage_pb2.FileMetadata(
            owner_user_id=f"hostile-{uuid.uuid4().hex[:12]}",
            entity_type="hostile",
            entity_id=uuid.uuid4().hex,
            file_name="probe.txt",
            content_type="text/plain",
        )

    async def fresh_file(self) -> str:
        requests = [
            storage_pb2.UploadFileRequest(metadata=self.file_metadata()),
            storage_pb2.UploadFileRequest(chunk=b"hostile input probe"),
        ]
        response = await self.files.UploadFile(
            iter(requests), timeout=CALL_SECONDS, metadata=call_metadata()
        )
        self.uploaded.add(response.file.file_id)
        return str(response.file.file_id)

    async def stream_version(self, stream_id: str) -> int | None:
        """The stream's version; None when it does not exist (or is no valid stream id)."""
        try:
            info = await self.events.GetStreamInfo(
                eventstore_pb2.GetStreamInfoRequest(stream_id=stream_id),
                timeout=CALL_SECONDS,
                metadata=call_metadata(),
            )
        except grpc.aio.AioRpcError as err:
            if err.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                return None
            raise
        return int(info.version)

    async def fund_version(self) -> int:
        version = await self.stream_version(self.fund_id)
        assert version is not None
        return version

    async def owner_file_count(self, owner: str) -> int:
        try:
            listed = await self.files.ListFiles(
                storage_pb2.ListFilesRequest(owner_user_id=owner, page_size=1000),
                timeout=CALL_SECONDS,
                metadata=call_metadata(),
            )
        except grpc.aio.AioRpcError as err:
            if err.code() is grpc.StatusCode.INVALID_ARGUMENT:
                return 0
            raise
        return len(listed.files)

    async def snapshot_count(self) -> int:
        listed = await self.snapshots.ListSnapshots(
            snapshotter_pb2.ListSnapshotsRequest(fund_id=self.fund_id, page_size=1000),
            timeout=CALL_SECONDS,
            metadata=call_metadata(),
        )
        return len(listed.snapshots)


# -- the valid base request, by field name ------------------------------------------------------

Seed = Callable[[Probe], Awaitable[object]]


def const(value: object) -> Seed:
    async def seed(probe: Probe) -> object:
        return value

    return seed


async def _fund_id(probe: Probe) -> object:
    return probe.fund_id


async def _fund_version(probe: Probe) -> object:
    return await probe.fund_version()


async def _fresh_stream(probe: Probe) -> object:
    return probe.fresh_stream()


async def _events(probe: Probe) -> object:
    return [probe.event()]


async def _fresh_file(probe: Probe) -> object:
    return await probe.fresh_file()


async def _file_metadata(probe: Probe) -> object:
    return probe.file_metadata()


# "Message.field" wins over "field"; None leaves the field at its default. Fields not named here
# keep their defaults, so a new field is sent hostile against an otherwise valid request.
SEEDS: dict[str, Seed | None] = {
    "stream_id": _fund_id,
    "fund_id": _fund_id,
    "AppendToStreamRequest.stream_id": _fresh_stream,
    "AppendToStreamRequest.events": _events,
    "AppendToStreamRequest.expected_version": None,
    "expected_version": _fund_version,
    "max_count": const(10),
    "user_id": const("hostile-user"),
    "correlation_id": const("hostile-correlation"),
    "proposals": const([allocation_pb2.Proposal(company_id="c1", planned_reserves_cents=2000)]),
    "reason": const("hostile-input probe"),
    "at_version": const(1),
    "file_id": _fresh_file,
    "owner_user_id": const("hostile-owner"),
    "UploadFileRequest.metadata": _file_metadata,
    "UploadFileRequest.chunk": const(b"hostile input probe"),
}


def _seed(descriptor: Descriptor, field: FieldDescriptor) -> Seed | None:
    qualified = f"{descriptor.name}.{field.name}"
    return SEEDS[qualified] if qualified in SEEDS else SEEDS.get(field.name)


def _assign(message: Message, field: FieldDescriptor, value: object) -> None:
    if field.is_repeated:
        target = getattr(message, field.name)
        target.extend(value)  # type: ignore[call-overload]
    elif field.message_type is not None:
        assert isinstance(value, Message)
        getattr(message, field.name).CopyFrom(value)
    else:
        setattr(message, field.name, value)


async def member_messages(
    rpc: Rpc, probe: Probe, hostile: str = ""
) -> tuple[Message, dict[str, Message]]:
    """The base request, and one message per seeded member of its oneofs (for client streams:
    the base carries the first, the others follow it). A single field named `hostile` is left
    out: the case sets it (a repeated one keeps its seed, the template of its many elements)."""
    descriptor = rpc.method.input_type
    cls = message_class(descriptor)
    base, members = cls(), {}
    taken: set[str] = set()
    for field in descriptor.fields:
        seed = _seed(descriptor, field)
        if seed is None or (field.name == hostile and not field.is_repeated):
            continue
        value = await seed(probe)
        oneof = real_oneof(field)
        if oneof is not None:
            member = cls()
            _assign(member, field, value)
            members[field.name] = member
            if oneof in taken:
                continue
            taken.add(oneof)
        _assign(base, field, value)
    return base, members


# -- nothing written ----------------------------------------------------------------------------


@dataclass(frozen=True)
class WriteCheck:
    """What a write RPC changes, read before and after a refused call: equal means nothing
    was written."""

    read: Callable[[Probe, Sequence[Message]], Awaitable[object]]


async def _appended_stream(probe: Probe, requests: Sequence[Message]) -> object:
    # Every call appends to a fresh stream: after a refusal it must not exist.
    stream_id = requests[0].stream_id  # type: ignore[attr-defined]
    return await probe.stream_version(stream_id)


async def _uploads(probe: Probe, requests: Sequence[Message]) -> object:
    # Every upload names a fresh owner and entity: after a refusal neither has a file or event.
    found: list[int | None] = []
    for request in requests:
        if request.WhichOneof("content") == "metadata":  # type: ignore[attr-defined]
            meta = request.metadata  # type: ignore[attr-defined]
            found.append(await probe.owner_file_count(meta.owner_user_id))
            found.append(await probe.stream_version(f"{meta.entity_type}-{meta.entity_id}"))
    return found


async def _file_kept(probe: Probe, requests: Sequence[Message]) -> object:
    file_id = requests[0].file_id  # type: ignore[attr-defined]
    if file_id not in probe.uploaded:
        return None
    exists = await probe.files.FileExists(
        storage_pb2.FileExistsRequest(file_id=file_id),
        timeout=CALL_SECONDS,
        metadata=call_metadata(),
    )
    return exists.exists


async def _fund_version_of(probe: Probe, requests: Sequence[Message]) -> object:
    return await probe.fund_version()


async def _snapshots(probe: Probe, requests: Sequence[Message]) -> object:
    return await probe.snapshot_count()


WRITE_CHECKS: dict[str, WriteCheck] = {
    "EventStoreService.AppendToStream": WriteCheck(_appended_stream),
    "AllocationService.CommitReallocation": WriteCheck(_fund_version_of),
    "StorageService.UploadFile": WriteCheck(_uploads),
    "StorageService.DeleteFile": WriteCheck(_file_kept),
    "SnapshotterService.CreateSnapshot": WriteCheck(_snapshots),
}
