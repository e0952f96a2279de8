"""Requests grpc cannot decode, and fund states that do not fit the wire, against a real server.

A string field holding invalid UTF-8 makes protobuf's parser raise before any handler runs; the
server must still answer INVALID_ARGUMENT FIELD_MALFORMED (never UNKNOWN), for each of the four
handler kinds, and a StateRangeError escaping a servicer is FAILED_PRECONDITION with its reason.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from fundledger_kernel.fund import StateRangeError
from fundledger_platform.errors import error_info
from fundledger_platform.server import build_server
from grpc_health.v1 import health_pb2
from platform_probe import drain, probe_settings

SERVICE = "fundledger.test.Decoding"
Request = health_pb2.HealthCheckRequest
# Field 1 (service, a string) holding two bytes that are not UTF-8.
UNDECODABLE = b"\x0a\x02\xff\xfe"
GOOD = Request(service="ok").SerializeToString()


def _identity(data: bytes) -> bytes:
    return data


class _Servicer:
    async def unary(self, request: Any, context: Any) -> bytes:
        if request.service == "overflow":
            raise StateRangeError("committed_cents = 9223372036854775808 does not fit in int64")
        service: str = request.service
        return service.encode()

    async def server_stream(self, request: Any, context: Any) -> AsyncIterator[bytes]:
        yield request.service.encode()

    async def client_stream(self, requests: AsyncIterator[Any], context: Any) -> bytes:
        return b",".join([r.service.encode() async for r in requests])

    async def bidi(self, requests: AsyncIterator[Any], context: Any) -> AsyncIterator[bytes]:
        async for request in requests:
            yield request.service.encode()

    def register(self, server: grpc.aio.Server) -> None:
        kw: dict[str, Any] = {
            "request_deserializer": Request.FromString,
            "response_serializer": _identity,
        }
        handlers = {
            "Unary": grpc.unary_unary_rpc_method_handler(self.unary, **kw),
            "ServerStream": grpc.unary_stream_rpc_method_handler(self.server_stream, **kw),
            "ClientStream": grpc.stream_unary_rpc_method_handler(self.client_stream, **kw),
            "Bidi": grpc.stream_stream_rpc_method_handler(self.bidi, **kw),
        }
        server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, handlers)])


@pytest.fixture
async def channel() -> AsyncIterator[grpc.aio.Channel]:
    server = build_server(probe_settings(), register=_Servicer().register, service_names=[SERVICE])
    await server.start()
    try:
        async with grpc.aio.insecure_channel(server.address) as ch:
            yield ch
    finally:
        await server.stop(0)


def _method(channel: grpc.aio.Channel, kind: str, name: str) -> Any:
    return getattr(channel, kind)(f"/{SERVICE}/{name}", _identity, _identity)


async def _requests(*items: bytes) -> AsyncIterator[bytes]:
    for item in items:
        yield item


def _assert_malformed(err: grpc.aio.AioRpcError, method: str) -> None:
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err
    info = error_info(err)
    assert info is not None
    assert info.reason == "FIELD_MALFORMED"
    assert info.metadata["field"] == "request"
    assert method in (err.details() or "")


async def test_good_requests_still_pass(channel: grpc.aio.Channel) -> None:
    assert await _method(channel, "unary_unary", "Unary")(GOOD, timeout=5) == b"ok"
    assert [r async for r in _method(channel, "unary_stream", "ServerStream")(GOOD, timeout=5)] == [
        b"ok"
    ]
    client_stream = _method(channel, "stream_unary", "ClientStream")
    assert await client_stream(_requests(GOOD, GOOD), timeout=5) == b"ok,ok"
    bidi = _method(channel, "stream_stream", "Bidi")
    assert [r async for r in bidi(_requests(GOOD), timeout=5)] == [b"ok"]


async def test_unary_invalid_utf8(channel: grpc.aio.Channel) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _method(channel, "unary_unary", "Unary")(UNDECODABLE, timeout=5)
    _assert_malformed(caught.value, "Unary")


async def test_server_stream_invalid_utf8(channel: grpc.aio.Channel) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in _method(channel, "unary_stream", "ServerStream")(UNDECODABLE, timeout=5):
            pass
    _assert_malformed(caught.value, "ServerStream")


async def test_client_stream_invalid_utf8_after_a_good_message(channel: grpc.aio.Channel) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _method(channel, "stream_unary", "ClientStream")(
            _requests(GOOD, UNDECODABLE), timeout=5
        )
    _assert_malformed(caught.value, "ClientStream")


async def test_bidi_invalid_utf8(channel: grpc.aio.Channel) -> None:
    call = _method(channel, "stream_stream", "Bidi")(_requests(GOOD, UNDECODABLE), timeout=5)
    received, err = await drain(call)
    assert received == [b"ok"]
    assert err is not None
    _assert_malformed(err, "Bidi")


async def test_health_check_invalid_utf8(channel: grpc.aio.Channel) -> None:
    check = channel.unary_unary("/grpc.health.v1.Health/Check", _identity, _identity)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await check(UNDECODABLE, timeout=5)
    _assert_malformed(caught.value, "Check")


async def test_state_out_of_range_is_failed_precondition(channel: grpc.aio.Channel) -> None:
    request = Request(service="overflow").SerializeToString()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _method(channel, "unary_unary", "Unary")(request, timeout=5)
    err = caught.value
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    info = error_info(err)
    assert info is not None
    assert info.reason == "FUND_STATE_OUT_OF_RANGE"
    assert "committed_cents" in (err.details() or "")
