"""The event store with authentication on: every RPC refuses calls without a valid token, and
nothing is written; a valid token works, including through the platform's EventStoreClient;
Subscribe ends when its token expires; health stays open."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc
import pytest
from eventstore.bootstrap import EventStore
from eventstore_support import append, event, events_of, new_stream
from fundledger.eventstore.v1 import eventstore_pb2 as pb
from fundledger.eventstore.v1 import eventstore_pb2_grpc
from fundledger_devstack.dev_issuer import DevIssuer
from fundledger_platform.auth.authorization import AuthorizationSettings
from fundledger_platform.auth.client import TokenSource
from fundledger_platform.errors import error_info
from fundledger_platform.eventstore_client import EventStoreClient, EventStoreProbe
from google.protobuf import symbol_database
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.support.auth import BadTokens, auth_settings, bad_tokens, bearer, token_parts
from tests.support.server_settings import loopback_server_settings

AUDIENCE = "fundledger-event-store"
POLICY_FILE = Path(__file__).resolve().parents[4] / "deploy" / "policy.yaml"
SERVICE = pb.DESCRIPTOR.services_by_name["EventStoreService"]


@pytest.fixture
def issuer(tmp_path: Path) -> DevIssuer:
    return DevIssuer(tmp_path / "issuer")


@pytest.fixture
async def secured(store_factory: Callable[..., Any], issuer: DevIssuer) -> EventStore:
    """An event store whose server requires tokens from the dev issuer for its audience."""
    server = replace(loopback_server_settings("event-store"), auth=auth_settings(issuer, AUDIENCE))
    store: EventStore = await store_factory(server=server)
    return store


@pytest.fixture
async def channel(secured: EventStore) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{secured.server.port}") as ch:
        yield ch


def writer(issuer: DevIssuer, ttl_seconds: float = 600) -> str:
    return issuer.mint(
        "alice", AUDIENCE, roles=["fund-manager"], tenant="acme", ttl_seconds=ttl_seconds
    )


async def call_rpc(channel: grpc.aio.Channel, name: str, metadata: Any) -> None:
    """Any method of the service, by name, with an empty request (refused before it is read)."""
    method = SERVICE.methods_by_name[name]
    request_class = symbol_database.Default().GetSymbol(method.input_type.full_name)
    response_class = symbol_database.Default().GetSymbol(method.output_type.full_name)
    path = f"/{SERVICE.full_name}/{name}"
    kind = "unary_stream" if method.server_streaming else "unary_unary"
    if method.client_streaming:
        kind = "stream_stream" if method.server_streaming else "stream_unary"
    multicallable = getattr(channel, kind)(
        path,
        request_serializer=request_class.SerializeToString,
        response_deserializer=response_class.FromString,
    )
    request: Any = request_class()
    if method.client_streaming:
        request = iter([request])
    if method.server_streaming:
        async for _ in multicallable(request, metadata=metadata, timeout=10):
            pass
    else:
        await multicallable(request, metadata=metadata, timeout=10)


async def test_every_rpc_refuses_calls_without_a_valid_token(
    channel: grpc.aio.Channel,
    issuer: DevIssuer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    forged: BadTokens = bad_tokens(tmp_path, AUDIENCE, issuer)
    cases: dict[str, tuple[tuple[tuple[str, str], ...], str]] = {"missing": ((), "TOKEN_MISSING")}
    for name, (token, reason) in forged.all().items():
        cases[name] = (bearer(token), reason)
    assert len(SERVICE.methods) >= 9
    for method in SERVICE.methods:
        for case, (metadata, reason) in cases.items():
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await call_rpc(channel, method.name, metadata)
            err = caught.value
            assert err.code() == grpc.StatusCode.UNAUTHENTICATED, (method.name, case, err)
            info = error_info(err)
            assert info is not None
            assert info.reason == reason, (method.name, case)
            sent = metadata[0][1] if metadata else ""
            for part in token_parts(sent.removeprefix("Bearer ")) if sent else []:
                assert part not in (err.details() or ""), (method.name, case)
    lines = [repr(record.__dict__) for record in caplog.records]
    assert any("call refused" in line for line in lines)
    for token, _ in forged.all().values():
        for part in token_parts(token):
            assert not any(part in line for line in lines), "token text in a log line"


async def test_a_refused_append_writes_nothing(
    channel: grpc.aio.Channel, issuer: DevIssuer, tmp_path: Path
) -> None:
    stub = eventstore_pb2_grpc.EventStoreServiceStub(channel)
    stream = new_stream()
    expired = issuer.mint("alice", AUDIENCE, ttl_seconds=-120)
    for metadata in (
        (),
        bearer(expired),
        bearer(bad_tokens(tmp_path, AUDIENCE, issuer).alg_none()),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.AppendToStream(append(stream, event()), metadata=metadata)
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetStreamInfo(
            pb.GetStreamInfoRequest(stream_id=stream), metadata=bearer(writer(issuer))
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_a_valid_token_appends_and_reads(
    channel: grpc.aio.Channel, issuer: DevIssuer
) -> None:
    stub = eventstore_pb2_grpc.EventStoreServiceStub(channel)
    stream = new_stream()
    token = bearer(writer(issuer))
    await stub.AppendToStream(append(stream, event(), event()), metadata=token)
    versions = [
        e.version
        async for r in stub.ReadStream(pb.ReadStreamRequest(stream_id=stream), metadata=token)
        for e in events_of(r)
    ]
    assert versions == [1, 2]


async def test_the_platform_client_sends_its_token(
    secured: EventStore, issuer: DevIssuer, tmp_path: Path
) -> None:
    address = f"127.0.0.1:{secured.server.port}"
    token_file = tmp_path / "projector-token"
    token_file.write_text(
        issuer.mint("system:serviceaccount:fundledger:projector", AUDIENCE, kind="service")
    )
    client = EventStoreClient(address, timeout_seconds=10, token=TokenSource.from_file(token_file))
    anonymous = EventStoreClient(address, timeout_seconds=10)
    probe = EventStoreProbe(address, 5.0)
    try:
        stream = new_stream()
        await client.append(append(stream, event()))
        assert [e.version for e in await client.read_stream(stream)] == [1]
        assert await client.head_position() >= 1
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await anonymous.read_stream(stream)
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert await probe.ready()  # health needs no token
    finally:
        await client.close()
        await anonymous.close()
        await probe.close()


async def test_health_is_open(channel: grpc.aio.Channel) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    response = await stub.Check(health_pb2.HealthCheckRequest(service=SERVICE.full_name), timeout=5)
    assert response.status == health_pb2.HealthCheckResponse.SERVING


async def test_subscribe_ends_when_its_token_expires(
    channel: grpc.aio.Channel, issuer: DevIssuer
) -> None:
    stub = eventstore_pb2_grpc.EventStoreServiceStub(channel)
    await stub.AppendToStream(append(new_stream(), event()), metadata=bearer(writer(issuer)))
    short = writer(issuer, ttl_seconds=2)
    call = stub.Subscribe(pb.SubscribeRequest(), metadata=bearer(short), timeout=30)
    messages: list[pb.SubscribeResponse] = []

    async def read() -> None:
        async for message in call:  # catches up, then waits for events that never come
            messages.append(message)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await read()
    assert any(message.HasField("caught_up") for message in messages)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    info = error_info(caught.value)
    assert info is not None
    assert info.reason == "TOKEN_EXPIRED"


def test_the_issuers_file_trusts_people_and_services(issuer: DevIssuer) -> None:
    document = json.loads(issuer.write_issuers_file().read_text())
    assert {entry["kind"] for entry in document["issuers"]} == {"person", "service"}


async def test_the_policy_decides_per_rpc_and_a_denied_append_writes_nothing(
    store_factory: Callable[..., Any], issuer: DevIssuer
) -> None:
    """Authentication and authorization together, as build_server wires them from the
    settings: the shipped policy (deploy/policy.yaml) lets a fund-viewer read but not append,
    and a fund-manager append."""
    policy_file = POLICY_FILE
    server = replace(
        loopback_server_settings("event-store"),
        auth=auth_settings(issuer, AUDIENCE),
        authorization=AuthorizationSettings(policy_file=policy_file),
    )
    store: EventStore = await store_factory(server=server)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{store.server.port}") as ch:
        stub = eventstore_pb2_grpc.EventStoreServiceStub(ch)
        stream = "fund-" + new_stream().partition("-")[2]
        viewer = bearer(issuer.mint("vic", AUDIENCE, roles=["fund-viewer"], tenant="acme"))
        manager = bearer(writer(issuer))

        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.AppendToStream(append(stream, event()), metadata=viewer)
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
        info = error_info(caught.value)
        assert info is not None
        assert (info.reason, info.metadata["permission"]) == ("PERMISSION_MISSING", "events.append")
        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await stub.GetStreamInfo(pb.GetStreamInfoRequest(stream_id=stream), metadata=manager)
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND  # the refused append wrote nothing

        await stub.AppendToStream(append(stream, event()), metadata=manager)
        info_response = await stub.GetStreamInfo(
            pb.GetStreamInfoRequest(stream_id=stream), metadata=viewer
        )
        assert info_response.version == 1
