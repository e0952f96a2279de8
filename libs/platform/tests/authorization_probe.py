"""The authorization tests' server: a probe service with declared permissions, behind a
test interceptor that sets the Principal from metadata (authentication is tested elsewhere)."""

from __future__ import annotations

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
    authorization_interceptor,
    permitted,
    require,
)
from fundledger_platform.auth.policy import PolicyFile, PolicySource
from fundledger_platform.auth.principal import Principal, PrincipalKind, acting_as
from fundledger_platform.interceptors import (
    ErrorMappingInterceptor,
    MetricsInterceptor,
    StreamClosingInterceptor,
)
from google.protobuf import descriptor_pb2, descriptor_pool, empty_pb2
from grpc_health.v1 import health_pb2_grpc
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
