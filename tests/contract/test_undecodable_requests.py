"""A request grpc cannot decode is INVALID_ARGUMENT FIELD_MALFORMED on every RPC of every
service of the real stack, never UNKNOWN.

For each RPC the request is raw bytes: a string field (the first one found, nested if need be)
holding bytes that are not UTF-8, which protobuf refuses to parse before any handler runs; an
input without string fields gets bytes that are not protobuf at all. Sent with a valid admin's
token, so authentication and authorization pass and the decoding is what is judged. Afterwards
every service is still SERVING.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from grpc_health.v1 import health_pb2

from tests.contract.hostile_cases import Rpc
from tests.contract.stack_calls import ALL_RPCS, call, endpoint_of, grpc_endpoints, serving
from tests.support.full_stack import FullStack

NOT_UTF8 = b"\xff\xfe"
# A tag with wire type 7, which does not exist: no protobuf parser accepts it.
NOT_PROTOBUF = b"\x0f\x00"


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _length_delimited(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def undecodable(descriptor: Descriptor, depth: int = 0) -> bytes | None:
    """``descriptor``'s message with one string field holding invalid UTF-8; None if it has
    no string field within three levels."""
    for field in descriptor.fields:
        if field.type == FieldDescriptor.TYPE_STRING:
            return _length_delimited(field.number, NOT_UTF8)
    if depth < 3:
        for field in descriptor.fields:
            nested = field.message_type
            if field.type == FieldDescriptor.TYPE_MESSAGE and nested is not None:
                inner = undecodable(nested, depth + 1)
                if inner is not None:
                    return _length_delimited(field.number, inner)
    return None


@pytest.fixture(scope="module")
async def channels(full_stack: FullStack) -> AsyncIterator[dict[str, grpc.aio.Channel]]:
    opened = {
        name: full_stack.secure.channel(address)
        for name, address in grpc_endpoints(full_stack).items()
    }
    try:
        yield opened
    finally:
        for channel in opened.values():
            await channel.close(None)


async def test_undecodable_request_is_field_malformed_on_every_rpc(
    channels: dict[str, grpc.aio.Channel],
) -> None:
    where = await endpoint_of(channels)
    failures = []
    for rpc in ALL_RPCS:
        channel = channels[where[rpc.service]]
        for label, message in _requests(rpc):
            answer = await call(channel, rpc, message)
            if not (
                answer.code is grpc.StatusCode.INVALID_ARGUMENT
                and answer.reason == "FIELD_MALFORMED"
                and answer.metadata.get("field") == "request"
            ):
                failures.append(f"{rpc.name} ({label}): {answer}")
    assert not failures, "\n".join(failures)
    for service, endpoint in where.items():
        status = await serving(channels[endpoint], service)
        assert status == health_pb2.HealthCheckResponse.SERVING, service


def _requests(rpc: Rpc) -> list[tuple[str, bytes]]:
    requests = [("not protobuf", NOT_PROTOBUF)]
    invalid_utf8 = undecodable(rpc.method.input_type)
    if invalid_utf8 is not None:
        requests.append(("string not UTF-8", invalid_utf8))
    return requests
