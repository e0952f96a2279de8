"""Small builders shared by the event-store tests."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

import grpc
from eventstore.domain.model import Identity
from fundledger.eventstore.v1 import events_pb2
from fundledger.eventstore.v1 import eventstore_pb2 as pb
from fundledger_devstack.security import DEV_TENANT

from tests.support.event_rows import insert_raw_event as _insert_raw_event
from tests.support.rpc_errors import metadata_of as metadata_of
from tests.support.rpc_errors import reason_of as reason_of

if TYPE_CHECKING:
    from eventstore.bootstrap import EventStore

    from tests.support.secure import SecureEnv

# The session's TLS and dev issuer (set by conftest for every test).
SECURE: SecureEnv | None = None


def open_channel(store: EventStore, token: str | None = "") -> grpc.aio.Channel:
    """A TLS channel to ``store`` whose calls carry ``token`` (default: admin "alice" of tenant
    "dev"; None: no token)."""
    assert SECURE is not None, "conftest sets the secure environment"
    return SECURE.channel(f"127.0.0.1:{store.server.port}", token)


async def insert_raw_event(
    conn: Any, stream_id: str, version: int, *args: Any, tenant: str | None = DEV_TENANT, **kw: Any
) -> int:
    """tests.support.event_rows.insert_raw_event, the event and its stream in ``tenant`` (by
    default the test tokens' tenant, so the tests' callers see the row). One transaction: the
    hash chain's back-fill (a leader task) must never see the row before its tenant is set."""
    async with conn.transaction():
        position = await _insert_raw_event(conn, stream_id, version, *args, **kw)
        await conn.execute(
            "UPDATE eventstore.events SET tenant = $2 WHERE position = $1", position, tenant
        )
        await conn.execute(
            "UPDATE eventstore.streams SET tenant = $2 WHERE stream_id = $1", stream_id, tenant
        )
    return position


# What the default test caller (admin "alice" of tenant "dev") appends as: for commands written
# straight to the database that the tests then read through the API.
TEST_IDENTITY = Identity(user_id="alice", actor=None, tenant=DEV_TENANT)


def new_stream(category: str = "fund") -> str:
    return f"{category}-{uuid.uuid4()}"


def event(event_type: str = "NOTE_ADDED", data: Any = None, **fields: Any) -> events_pb2.EventData:
    payload = {"n": 1} if data is None else data
    return events_pb2.EventData(event_type=event_type, data=json.dumps(payload).encode(), **fields)


def append(
    stream_id: str, *events: events_pb2.EventData, **fields: Any
) -> pb.AppendToStreamRequest:
    return pb.AppendToStreamRequest(stream_id=stream_id, events=list(events), **fields)


async def read_versions(stub: Any, stream_id: str) -> list[int]:
    return [
        e.version for e in await collect(stub.ReadStream(pb.ReadStreamRequest(stream_id=stream_id)))
    ]


# -- added for the read, analytics and storage-mode tests ------------------------------


def new_category() -> str:
    """A category no other test uses, so category filters see only this test's streams."""
    return f"c{uuid.uuid4().hex[:12]}"


def new_type() -> str:
    """An event type no other test uses."""
    return f"T_{uuid.uuid4().hex[:12]}"


def events_of(response: Any) -> list[Any]:
    """The events of one ReadStream or ReadAll response: its page (the default), or its one
    event (one_per_message)."""
    return [response.event] if response.HasField("event") else list(response.events)


def subscribed_events(message: pb.SubscribeResponse) -> list[events_pb2.RecordedEvent]:
    """The events of one Subscribe message: its page (the default), its one event
    (one_per_message), none for the caught-up marker."""
    which = message.WhichOneof("content")
    if which == "page":
        return list(message.page.events)
    return [message.event] if which == "event" else []


async def collect(call: Any) -> list[Any]:
    """Every event of a server-streaming read (ReadStream or ReadAll), pages or not."""
    return [e async for r in call for e in events_of(r)]
