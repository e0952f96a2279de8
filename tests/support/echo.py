"""A protobuf-free echo service: the baseline for raw grpc.aio throughput (benchmarks and tests
only; not part of any service).

Bytes in, the same bytes out, no (de)serialization, no domain code: what a
benchmark measures against it is the cost of gRPC, the interceptors and the
event loop on this machine, to compare the real services with.
"""

from __future__ import annotations

from typing import Any

import grpc

ECHO_SERVICE = "fundledger.bench.v1.Echo"
ECHO_METHOD = f"/{ECHO_SERVICE}/Echo"


def _identity(data: bytes) -> bytes:
    return data


async def _echo(request: bytes, context: Any) -> bytes:
    return request


def register_echo(server: grpc.aio.Server) -> None:
    handler = grpc.unary_unary_rpc_method_handler(
        _echo, request_deserializer=_identity, response_serializer=_identity
    )
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler(ECHO_SERVICE, {"Echo": handler})]
    )
