"""What the event store records of who appended: the verified principal, never the request.

Against the real secure store (TLS, the dev issuer's tokens, the repository's policy): a person
calling directly, a service acting for a person (``x-fundledger-subject-token``), a service
acting for itself, and the platform's EventStoreClient forwarding the person it serves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg
import grpc
import pytest
from eventstore.bootstrap import EventStore
from eventstore_relay_support import bus_client, bus_overrides, read_bus, wait_relay_caught_up
from eventstore_support import (
    append,
    collect,
    event,
    metadata_of,
    new_stream,
    open_channel,
    reason_of,
)
from fundledger.eventstore.v1 import eventstore_pb2 as pb
from fundledger.eventstore.v1 import eventstore_pb2_grpc
from fundledger_platform.auth.client import TokenSource
from fundledger_platform.auth.forwarding import SUBJECT_TOKEN_HEADER, forwarding
from fundledger_platform.eventstore_client import EventStoreClient

from tests.support.auth import token_parts
from tests.support.secure import SecureEnv

STORAGE = "fundledger-storage"  # the subject of the storage service's dev token


def acting(subject_token: str) -> tuple[tuple[str, str], ...]:
    return ((SUBJECT_TOKEN_HEADER, subject_token),)


async def recorded(store: EventStore, stream_id: str) -> list[tuple[str, str, str]]:
    """(user_id, actor, tenant) of every stored event of the stream, read from the table."""
    rows = await store.pool.fetch(
        "SELECT user_id, actor, tenant FROM eventstore.events WHERE stream_id = $1 "
        "ORDER BY version",
        stream_id,
    )
    return [(r["user_id"] or "", r["actor"] or "", r["tenant"] or "") for r in rows]


async def test_a_person_is_recorded_as_the_user_whatever_the_request_says(
    store: EventStore, as_caller: Any, secure_env: SecureEnv
) -> None:
    bob = as_caller("bob", roles=("fund-manager",), tenant="acme")
    s = new_stream()
    await bob.AppendToStream(append(s, event(user_id="mallory"), event()))
    assert await recorded(store, s) == [("bob", "", "acme")] * 2
    [first, _] = await collect(bob.ReadStream(pb.ReadStreamRequest(stream_id=s)))
    assert (first.user_id, first.actor, first.tenant) == ("bob", "", "acme")


async def test_a_service_acting_for_a_person_records_both(
    store: EventStore, secure_env: SecureEnv
) -> None:
    """Storage's token in `authorization`, bob's in the subject token: bob is the user (his
    tenant, his permissions), storage the actor; a spoofed user_id is ignored."""
    service = secure_env.service_token("storage").token()
    bob = secure_env.token("bob", roles=("fund-manager",), tenant="acme")
    s = new_stream()
    async with open_channel(store, service) as channel:
        stub = eventstore_pb2_grpc.EventStoreServiceStub(channel)
        await stub.AppendToStream(append(s, event(user_id="mallory")), metadata=acting(bob))
        # Reading as bob through storage: his tenant's stream.
        info = await stub.GetStreamInfo(pb.GetStreamInfoRequest(stream_id=s), metadata=acting(bob))
        assert info.version == 1
    assert await recorded(store, s) == [("bob", STORAGE, "acme")]


async def test_acting_for_a_person_applies_their_permissions(
    store: EventStore, secure_env: SecureEnv
) -> None:
    """Storage may append to fund streams itself; for a fund-viewer it may not (the person's
    roles apply), and nothing is written."""
    service = secure_env.service_token("storage").token()
    viewer = secure_env.token("vic", roles=("fund-viewer",), tenant="acme")
    s = new_stream()
    async with open_channel(store, service) as channel:
        stub = eventstore_pb2_grpc.EventStoreServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.AppendToStream(append(s, event()), metadata=acting(viewer))
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert metadata_of(caught.value)["permission"] == "events.append"
        assert await recorded(store, s) == []
        await stub.AppendToStream(append(s, event(user_id="mallory")))  # for itself
    # A service acting for itself: no user (the request's is not trusted), itself the actor,
    # and a stream it creates has no tenant.
    assert await recorded(store, s) == [("", STORAGE, "")]


async def test_a_person_cannot_send_a_subject_token(
    store: EventStore, secure_env: SecureEnv
) -> None:
    mallory = secure_env.token("mallory", roles=("fund-manager",), tenant="acme")
    admin = secure_env.token("alice", roles=("admin",), tenant="globex")
    s = new_stream()
    async with open_channel(store, mallory) as channel:
        stub = eventstore_pb2_grpc.EventStoreServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.AppendToStream(append(s, event()), metadata=acting(admin))
    err = caught.value
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    assert (reason_of(err), metadata_of(err)["check"]) == ("TOKEN_INVALID", "subject_token")
    for part in token_parts(admin):
        assert part not in (err.details() or "")
    assert await recorded(store, s) == []


async def test_an_expired_or_foreign_subject_token_is_refused(
    store: EventStore, secure_env: SecureEnv
) -> None:
    service = secure_env.service_token("storage").token()
    expired = secure_env.token("bob", roles=("fund-manager",), tenant="acme", ttl_seconds=-120)
    # A token of another service is not a person's.
    other_service = secure_env.service_token("allocation").token()
    s = new_stream()
    async with open_channel(store, service) as channel:
        stub = eventstore_pb2_grpc.EventStoreServiceStub(channel)
        for token, reason in ((expired, "TOKEN_EXPIRED"), (other_service, "TOKEN_INVALID")):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.AppendToStream(append(s, event()), metadata=acting(token))
            assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert reason_of(caught.value) == reason
            assert metadata_of(caught.value)["check"] == "subject_token"
    assert await recorded(store, s) == []


async def test_the_platform_client_forwards_the_person_being_served(
    store: EventStore, secure_env: SecureEnv
) -> None:
    """EventStoreClient as allocation uses it: while a person's call is handled (the server
    interceptor keeps their token) it acts for them; background work acts for itself."""
    address = f"127.0.0.1:{store.server.port}"
    client = EventStoreClient(
        address,
        timeout_seconds=10,
        tls=secure_env.client_tls(),
        token=TokenSource.from_file(secure_env.security.token_file("allocation")),
    )
    bob = secure_env.token("bob", roles=("fund-manager",), tenant="acme")
    served, background = new_stream(), new_stream()
    try:
        with forwarding(bob):
            await client.append(append(served, event(user_id="mallory")))
            assert [e.user_id for e in await client.read_stream(served)] == ["bob"]
        await client.append(append(background, event(user_id="mallory")))
        # Acting for itself, allocation is not bound to a tenant: it sees bob's stream too.
        assert [e.tenant for e in await client.read_stream(served)] == ["acme"]
    finally:
        await client.close()
    assert await recorded(store, served) == [("bob", "fundledger-allocation", "acme")]
    assert await recorded(store, background) == [("", "fundledger-allocation", "")]


async def test_the_bus_carries_tenant_and_actor(
    store_factory: Callable[..., Any], secure_env: SecureEnv, nats_server: Any, fresh_dsn: str
) -> None:
    """Consumers of the bus learn whose event it is from the event itself."""
    bus = bus_overrides()
    store: EventStore = await store_factory(**bus)
    bob = secure_env.token("bob", roles=("fund-manager",), tenant="acme")
    s = new_stream()
    async with open_channel(store, bob) as channel:
        stub = eventstore_pb2_grpc.EventStoreServiceStub(channel)
        await stub.AppendToStream(append(s, event()))
    conn = await asyncpg.connect(fresh_dsn)
    try:
        await wait_relay_caught_up(conn)
    finally:
        await conn.close()
    async with bus_client(nats_server.url) as js:
        messages = await read_bus(js, bus["bus_stream"], bus["bus_subject_prefix"])
    [published] = [m.event for m in messages if m.event.stream_id == s]
    assert (published.user_id, published.tenant, published.actor) == ("bob", "acme", "")


async def test_a_service_retrying_for_itself_what_it_sent_for_a_person_gets_a_replay(
    store: EventStore, secure_env: SecureEnv
) -> None:
    """Storage attaches a file for bob; its later retry (background work, acting for itself)
    is the same request: answered with the first result, bob still the recorded user."""
    service = secure_env.service_token("storage").token()
    bob = secure_env.token("bob", roles=("fund-manager",), tenant="acme")
    s = new_stream()
    request = append(s, event("FILE_NOTED"), idempotency_key="attach-1")
    async with open_channel(store, service) as channel:
        stub = eventstore_pb2_grpc.EventStoreServiceStub(channel)
        first = await stub.AppendToStream(request, metadata=acting(bob))
        again = await stub.AppendToStream(request)
    assert again.replayed
    assert list(again.event_ids) == list(first.event_ids)
    assert await recorded(store, s) == [("bob", STORAGE, "acme")]
