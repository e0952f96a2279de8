"""The authorization interceptor on a real grpc.aio server, for every handler kind, both ways:
allowed -> the handler runs; denied -> PERMISSION_DENIED naming the permission, and the handler
never ran (so nothing was written).

The probe service's descriptor (with its `requires` options) is added to the default pool here,
so the interceptor reads the permissions exactly as it reads the real services'. A Principal is
set by a small test interceptor in front (what authentication does in a service), from
`x-test-subject` / `x-test-groups` metadata, its roles from the policy's bindings.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from fundledger.auth.v1 import options_pb2
from fundledger_platform._wrapping import HandlerCache, wrap_handler
from fundledger_platform.auth.authorization import (
    AuthorizationSettings,
    authorization_interceptor,
    permitted,
    require,
)
from fundledger_platform.auth.policy import PolicyError, PolicyFile, PolicySource
from fundledger_platform.auth.principal import Principal, PrincipalKind, acting_as
from fundledger_platform.errors import error_info
from fundledger_platform.interceptors import (
    ErrorMappingInterceptor,
    MetricsInterceptor,
    StreamClosingInterceptor,
)
from google.protobuf import descriptor_pb2, descriptor_pool, empty_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer

if TYPE_CHECKING:
    _ServerInterceptor = grpc.aio.ServerInterceptor[Any, Any]
else:
    _ServerInterceptor = grpc.aio.ServerInterceptor

PACKAGE = "fundledger.test.v1"
SERVICE = f"{PACKAGE}.AuthzProbe"
ISSUER = "https://idp.test"

# method -> (declared permission or None, request streaming, response streaming)
METHODS: dict[str, tuple[str | None, bool, bool]] = {
    "Read": ("funds.read", False, False),
    "Append": ("events.append", False, False),
    "Watch": ("events.subscribe", False, True),
    "Upload": ("files.write", True, False),
    "Chat": ("files.read", True, True),
    "Rebuild": ("projections.rebuild", False, False),
    "Undeclared": (None, False, False),
}


def _register_descriptor() -> None:
    pool = descriptor_pool.Default()
    name = "fundledger/test/v1/authz_probe.proto"
    try:
        pool.FindFileByName(name)
        return
    except KeyError:
        pass
    empty = ".google.protobuf.Empty"
    proto = descriptor_pb2.FileDescriptorProto(
        name=name,
        package=PACKAGE,
        syntax="proto3",
        dependency=[empty_pb2.DESCRIPTOR.name, options_pb2.DESCRIPTOR.name],
    )
    service = proto.service.add(name="AuthzProbe")
    for method, (permission, client_streaming, server_streaming) in METHODS.items():
        added = service.method.add(
            name=method,
            input_type=empty,
            output_type=empty,
            client_streaming=client_streaming,
            server_streaming=server_streaming,
        )
        if permission is not None:
            added.options.Extensions[options_pb2.requires] = permission
    pool.AddSerializedFile(proto.SerializeToString())


_register_descriptor()

POLICY = """
roles:
  reader: [funds.read, files.read, "events.subscribe:fund"]
  viewer: [funds.read]
  fund-writer: ["events.append:fund"]
  uploader: [files.write]
  admin: ["*"]
bindings:
  - {claim: groups, contains: readers, roles: [reader]}
  - {claim: groups, contains: viewers, roles: [viewer]}
  - {claim: groups, contains: fund-writers, roles: [fund-writer]}
  - {claim: groups, contains: uploaders, roles: [uploader]}
  - {claim: groups, contains: admins, roles: [admin]}
"""


def _identity(data: bytes) -> bytes:
    return data


@dataclass
class Probe:
    """Records every handler that started and every write that happened."""

    ran: list[str] = field(default_factory=list)
    written: list[bytes] = field(default_factory=list)

    async def read(self, request: bytes, context: Any) -> bytes:
        self.ran.append("Read")
        # A listing narrowed to what the caller may see, instead of refused.
        return b"state+files" if permitted("files.read") else b"state"

    async def append(self, request: bytes, context: Any) -> bytes:
        self.ran.append("Append")
        # The stream's category is known only from the request: the service layer checks it.
        require(f"events.append:{request.decode()}")
        self.written.append(request)
        return b"appended"

    async def watch(self, request: bytes, context: Any) -> AsyncIterator[bytes]:
        self.ran.append("Watch")
        for i in range(3):
            yield b"event-%d" % i

    async def upload(self, requests: AsyncIterator[bytes], context: Any) -> bytes:
        self.ran.append("Upload")
        chunks = [chunk async for chunk in requests]
        self.written.append(b"".join(chunks))
        return b"stored"

    async def chat(self, requests: AsyncIterator[bytes], context: Any) -> AsyncIterator[bytes]:
        self.ran.append("Chat")
        async for request in requests:
            yield request.upper()

    async def rebuild(self, request: bytes, context: Any) -> bytes:
        self.ran.append("Rebuild")
        return b"rebuilt"

    async def undeclared(self, request: bytes, context: Any) -> bytes:
        self.ran.append("Undeclared")
        return b"?"

    def register(self, server: grpc.aio.Server) -> None:
        kw: dict[str, Any] = {"request_deserializer": _identity, "response_serializer": _identity}
        handlers = {
            "Read": grpc.unary_unary_rpc_method_handler(self.read, **kw),
            "Append": grpc.unary_unary_rpc_method_handler(self.append, **kw),
            "Watch": grpc.unary_stream_rpc_method_handler(self.watch, **kw),
            "Upload": grpc.stream_unary_rpc_method_handler(self.upload, **kw),
            "Chat": grpc.stream_stream_rpc_method_handler(self.chat, **kw),
            "Rebuild": grpc.unary_unary_rpc_method_handler(self.rebuild, **kw),
            "Undeclared": grpc.unary_unary_rpc_method_handler(self.undeclared, **kw),
        }
        server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, handlers)])


class PrincipalFromMetadata(_ServerInterceptor):
    """Stands in for the authentication interceptor: the Principal from test metadata."""

    def __init__(self, policy: PolicySource) -> None:
        self._policy = policy
        self._cache = HandlerCache(lambda method, handler: wrap_handler(handler, self._guard))

    def _guard(self, context: Any) -> _ActingAs:
        metadata = dict(context.invocation_metadata())
        subject = metadata.get("x-test-subject")
        if subject is None:
            return _ActingAs(None)
        groups = [g for g in metadata.get("x-test-groups", "").split(",") if g]
        claims: dict[str, object] = {"groups": groups}
        roles = self._policy.current().roles_for(claims, ISSUER, subject)
        principal = Principal(
            issuer=ISSUER,
            subject=subject,
            kind=PrincipalKind.PERSON,
            expires_at=datetime.now(UTC) + timedelta(hours=1),
            roles=roles,
            claims=claims,
        )
        return _ActingAs(principal)

    async def intercept_service(self, continuation: Any, handler_call_details: Any) -> Any:
        handler = await continuation(handler_call_details)
        return self._cache.get(handler_call_details.method, handler)


class _ActingAs:
    def __init__(self, principal: Principal | None) -> None:
        self._scope = acting_as(principal)

    async def __aenter__(self) -> None:
        self._scope.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._scope.__exit__(exc_type, exc, traceback)


@dataclass
class Stack:
    probe: Probe
    channel: grpc.aio.Channel
    policy_path: Path


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    policy_path = tmp_path / "policy.yaml"
    policy_path.write_text(POLICY)
    policy = PolicyFile(policy_path, check_seconds=0.0)  # looked at on every call
    probe = Probe()
    # The platform's order (server.build_server): stream closing, metrics, error mapping, then
    # authentication, then authorization innermost, right before the handler.
    server = grpc.aio.server(
        interceptors=[
            StreamClosingInterceptor(),
            MetricsInterceptor(),
            ErrorMappingInterceptor(),
            PrincipalFromMetadata(policy),
            authorization_interceptor(policy),
        ]
    )
    probe.register(server)
    health_pb2_grpc.add_HealthServicer_to_server(HealthServicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield Stack(probe, channel, policy_path)
    finally:
        await server.stop(0)


async def _requests(*items: bytes) -> AsyncIterator[bytes]:
    for item in items:
        yield item


def _metadata(subject: str | None, groups: str) -> tuple[tuple[str, str], ...]:
    if subject is None:
        return ()
    return (("x-test-subject", subject), ("x-test-groups", groups))


async def call(
    stack: Stack,
    method: str,
    groups: str,
    payload: bytes = b"fund",
    subject: str | None = "ann",
    *,
    refused: bool = False,
) -> list[bytes]:
    """Calls `method` as a principal in `groups`; its responses (raises AioRpcError).

    `refused`: a call expected to be refused sends no request messages. grpc.aio's client
    turns a message it fails to send after the server has already ended the call into
    INTERNAL ("Failed execute_batch") instead of the server's status: a client-side race that
    says nothing about the server, which answers before reading any message.
    """
    _, client_streaming, server_streaming = METHODS[method]
    kind = ("stream" if client_streaming else "unary") + (
        "_stream" if server_streaming else "_unary"
    )
    callable_ = getattr(stack.channel, kind)(f"/{SERVICE}/{method}", _identity, _identity)
    metadata = _metadata(subject, groups)
    if client_streaming and refused:
        invocation = callable_(metadata=metadata, timeout=10)
    else:
        request: Any = _requests(payload, payload) if client_streaming else payload
        invocation = callable_(request, metadata=metadata, timeout=10)
    if server_streaming:
        return [item async for item in invocation]
    return [await invocation]


def assert_denied(err: grpc.aio.AioRpcError, permission: str) -> None:
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    info = error_info(err)
    assert info is not None
    assert info.reason == "PERMISSION_MISSING"
    assert dict(info.metadata) == {"permission": permission}
    assert permission in (err.details() or "")


# method, groups allowed, groups denied (holding other permissions), the permission named
CASES = [
    ("Read", "readers", "fund-writers,uploaders", "funds.read"),
    ("Watch", "readers", "uploaders", "events.subscribe"),
    ("Upload", "uploaders", "readers,fund-writers", "files.write"),
    ("Chat", "readers", "uploaders", "files.read"),
    ("Append", "fund-writers", "readers,uploaders", "events.append"),
    ("Rebuild", "admins", "readers,fund-writers,uploaders", "projections.rebuild"),
]


@pytest.mark.parametrize(("method", "allowed", "denied", "permission"), CASES)
async def test_a_caller_with_the_permission_reaches_the_handler(
    stack: Stack, method: str, allowed: str, denied: str, permission: str
) -> None:
    responses = await call(stack, method, allowed)
    assert responses
    assert stack.probe.ran == [method]


@pytest.mark.parametrize(("method", "allowed", "denied", "permission"), CASES)
async def test_a_caller_without_it_is_refused_before_the_handler(
    stack: Stack, method: str, allowed: str, denied: str, permission: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(stack, method, denied, refused=True)
    assert_denied(caught.value, permission)
    assert stack.probe.ran == []
    assert stack.probe.written == []


@pytest.mark.parametrize("method", [m for m, _, _, _ in CASES])
async def test_no_principal_or_no_role_is_refused(stack: Stack, method: str) -> None:
    permission = METHODS[method][0]
    assert permission is not None
    for subject, groups in ((None, ""), ("ann", ""), ("ann", "strangers")):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call(stack, method, groups, subject=subject, refused=True)
        assert_denied(caught.value, permission)
    assert stack.probe.ran == []


async def test_a_request_dependent_permission_is_checked_by_the_service(stack: Stack) -> None:
    """`events.append:fund` passes the declared `events.append` gate for any category; the
    handler's require() refuses another category before it writes."""
    assert await call(stack, "Append", "fund-writers", b"fund") == [b"appended"]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(stack, "Append", "fund-writers", b"file")
    assert_denied(caught.value, "events.append:file")
    assert stack.probe.written == [b"fund"]
    # An administrator holds every category.
    assert await call(stack, "Append", "admins", b"file") == [b"appended"]
    assert stack.probe.written == [b"fund", b"file"]


async def test_permitted_narrows_a_call_to_what_the_caller_may_see(stack: Stack) -> None:
    assert await call(stack, "Read", "readers") == [b"state+files"]
    assert await call(stack, "Read", "viewers") == [b"state"]


async def test_an_rpc_without_a_declared_permission_is_refused_to_everyone(stack: Stack) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(stack, "Undeclared", "admins")
    err = caught.value
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    info = error_info(err)
    assert info is not None
    assert info.reason == "PERMISSION_MISSING"
    assert dict(info.metadata) == {"method": f"/{SERVICE}/Undeclared"}
    assert stack.probe.ran == []


async def test_health_stays_open(stack: Stack) -> None:
    stub = health_pb2_grpc.HealthStub(stack.channel)
    response = await stub.Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert response.status == health_pb2.HealthCheckResponse.SERVING


async def test_a_policy_change_applies_to_the_next_call(stack: Stack) -> None:
    with pytest.raises(grpc.aio.AioRpcError):
        await call(stack, "Rebuild", "readers")
    fresh = stack.policy_path.with_suffix(".new")
    fresh.write_text(POLICY.replace("reader: [", "reader: [projections.rebuild, "))
    os.replace(fresh, stack.policy_path)
    assert await call(stack, "Rebuild", "readers") == [b"rebuilt"]
    assert stack.probe.ran == ["Rebuild"]


def test_require_allows_everything_when_authorization_is_off() -> None:
    """No authorization interceptor ran (none installed): the service-layer checks pass."""
    require("events.append:fund")
    assert permitted("projections.rebuild")


def test_settings_switch_authorization_on_only_with_a_policy_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FUNDLEDGER_AUTH_POLICY_FILE", raising=False)
    assert AuthorizationSettings.from_env() is None
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    monkeypatch.setenv("FUNDLEDGER_AUTH_POLICY_FILE", str(path))
    monkeypatch.setenv("FUNDLEDGER_AUTH_POLICY_CHECK_SECONDS", "7")
    settings = AuthorizationSettings.from_env()
    assert settings == AuthorizationSettings(policy_file=path, check_seconds=7.0)
    assert settings.load().current().allows({"reader"}, "files.read")
    path.write_text("roles: {reader: [Not Valid]}")
    with pytest.raises(PolicyError, match=str(path)):
        settings.load()
