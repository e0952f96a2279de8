"""Test helpers: a protobuf-free probe service (all four handler kinds) and settings.

Imported by the tests as ``platform_probe`` (conftest puts this folder on sys.path;
the name is unique so it cannot shadow another package's test helpers).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import grpc
from fundledger_platform.auth.principal import current_principal
from fundledger_platform.errors import Aborted, InvalidArgument, NotFound, Reason
from fundledger_platform.server import ServiceServer
from fundledger_platform.settings import ServerSettings
from opentelemetry import trace

PROBE_SERVICE = "fundledger.test.v1.Probe"
SECRET = "password=hunter2 at /srv/secret.sql"


def _identity(data: bytes) -> bytes:
    return data


def whoami() -> bytes:
    """The calling principal as the handler sees it: `kind:subject:tenant:roles` or `nobody`."""
    principal = current_principal()
    if principal is None:
        return b"nobody"
    roles = ",".join(sorted(principal.roles))
    return f"{principal.kind}:{principal.subject}:{principal.tenant}:{roles}".encode()


class Probe:
    """Handlers of all four kinds; the request bytes say what to do."""

    def __init__(self) -> None:
        self.slow_started = asyncio.Event()
        self.slow_finished: list[float] = []
        self.streams_closed = 0

    async def unary(self, request: bytes, context: Any) -> bytes:
        if request == b"invalid":
            raise InvalidArgument(
                "amount must be positive",
                reason=Reason.FIELD_NEGATIVE,
                field="proposed[0].amount_cents",
                metadata={"company": "acme"},
            )
        if request == b"aborted":
            raise Aborted(
                "wrong expected version",
                reason=Reason.WRONG_EXPECTED_VERSION,
                metadata={"actualVersion": "7"},
            )
        if request == b"boom":
            raise RuntimeError(SECRET)
        if request == b"db-gone":
            raise asyncpg.ConnectionDoesNotExistError("connection was closed in the middle")
        if request.startswith(b"slow:"):
            self.slow_started.set()
            await asyncio.sleep(float(request[5:]))
            self.slow_finished.append(asyncio.get_running_loop().time())
            return b"done"
        if request == b"whoami":
            return whoami()
        if request == b"trace-id":
            span_context = trace.get_current_span().get_span_context()
            return format(span_context.trace_id, "032x").encode()
        return request

    async def server_stream(self, request: bytes, context: Any) -> AsyncIterator[bytes]:
        try:
            if request == b"whoami":
                yield whoami()
            for i in range(3):
                yield b"item-%d" % i
            if request == b"idle":
                await asyncio.Event().wait()  # a quiet subscription: no message for ever
            if request == b"forever":
                while True:
                    yield b"tick"  # no await: the task is mostly inside grpc's send
            if request == b"invalid":
                raise InvalidArgument(
                    "bad cursor", reason=Reason.INVALID_PAGE_TOKEN, field="from_position"
                )
            if request == b"boom":
                raise RuntimeError(SECRET)
        finally:
            self.streams_closed += 1

    async def writer_stream(self, request: bytes, context: Any) -> None:
        # The reader/writer style some handlers (grpc_health's Watch) use.
        await context.write(b"written")
        if request == b"invalid":
            raise InvalidArgument("bad", reason=Reason.FIELD_MALFORMED, field="x")

    async def client_stream(self, requests: AsyncIterator[bytes], context: Any) -> bytes:
        received = [request async for request in requests]
        if b"whoami" in received:
            return whoami()
        if b"missing" in received:
            raise NotFound("no such stream", reason=Reason.STREAM_NOT_FOUND, metadata={"id": "s-1"})
        return b",".join(received)

    async def bidi(self, requests: AsyncIterator[bytes], context: Any) -> AsyncIterator[bytes]:
        async for request in requests:
            if request == b"invalid":
                raise InvalidArgument("bad event", reason=Reason.INVALID_PAYLOAD, field="events[1]")
            if request == b"boom":
                raise RuntimeError(SECRET)
            yield whoami() if request == b"whoami" else request.upper()

    def register(self, server: grpc.aio.Server) -> None:
        kw: dict[str, Any] = {"request_deserializer": _identity, "response_serializer": _identity}
        handlers = {
            "Unary": grpc.unary_unary_rpc_method_handler(self.unary, **kw),
            "ServerStream": grpc.unary_stream_rpc_method_handler(self.server_stream, **kw),
            "WriterStream": grpc.unary_stream_rpc_method_handler(self.writer_stream, **kw),
            "ClientStream": grpc.stream_unary_rpc_method_handler(self.client_stream, **kw),
            "Bidi": grpc.stream_stream_rpc_method_handler(self.bidi, **kw),
        }
        server.add_generic_rpc_handlers(
            [grpc.method_handlers_generic_handler(PROBE_SERVICE, handlers)]
        )


def probe_settings(metrics_port: int = -1, grace: float = 5.0) -> ServerSettings:
    return ServerSettings(
        service_name="probe",
        grpc_host="127.0.0.1",
        grpc_port=0,
        metrics_port=metrics_port,
        log_level="INFO",
        otlp_endpoint=None,
        shutdown_grace_seconds=grace,
    )


def bytes_method(channel: grpc.aio.Channel, kind: str, name: str) -> Any:
    """A multi-callable for a probe method, with identity (de)serializers."""
    factory = getattr(channel, kind)
    return factory(f"/{PROBE_SERVICE}/{name}", _identity, _identity)


async def drain(call: Any) -> tuple[list[Any], grpc.aio.AioRpcError | None]:
    """Read a response stream to its end: the items, and the error it ended with (if any)."""
    items: list[Any] = []
    try:
        async for item in call:
            items.append(item)
    except grpc.aio.AioRpcError as err:
        return items, err
    return items, None


MakeServer = Callable[..., Awaitable[tuple[ServiceServer, Probe]]]
