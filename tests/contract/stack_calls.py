"""Calls to every RPC of the whole stack that stop at the server's first answer, for the
contract tests that only care about that answer (authentication, authorization, undecodable
requests): the request's content does not matter to them, so each call sends one given message
(raw bytes) and a server stream is cancelled after its first message."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import grpc
from fundledger_platform.errors import error_info
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.contract.hostile_cases import Rpc, discover
from tests.support.full_stack import FullStack

# Every answer here comes before any handler work (or from the first check a handler makes).
CALL_SECONDS = 10.0
# A server stream that sent nothing for this long after an OK start is open, not refused.
FIRST_MESSAGE_SECONDS = 3.0

SERVICES = discover()
ALL_RPCS: list[Rpc] = [rpc for rpcs in SERVICES.values() for rpc in rpcs]


@dataclass(frozen=True)
class Answer:
    code: grpc.StatusCode
    details: str = ""
    reason: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.code.name} {self.reason or '-'} {self.details!r}"


def _identity(data: bytes) -> bytes:
    return data


def grpc_endpoints(stack: FullStack) -> dict[str, str]:
    """endpoint name -> host:port of every gRPC service of the stack."""
    return {name: address for name, address in stack.endpoints.items() if "://" not in address}


async def serving(channel: grpc.aio.Channel, service: str) -> int:
    try:
        response = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=CALL_SECONDS
        )
    except grpc.aio.AioRpcError:
        return int(health_pb2.HealthCheckResponse.UNKNOWN)
    return int(response.status)


async def endpoint_of(channels: dict[str, grpc.aio.Channel]) -> dict[str, str]:
    """gRPC service full name -> the endpoint whose health knows it as SERVING."""
    found: dict[str, str] = {}
    for service in SERVICES:
        for name, channel in channels.items():
            if await serving(channel, service) == health_pb2.HealthCheckResponse.SERVING:
                found[service] = name
    missing = sorted(set(SERVICES) - set(found))
    assert not missing, f"no endpoint of the stack serves {missing}"
    return found


async def _one(message: bytes) -> AsyncIterator[bytes]:
    yield message


async def _none() -> AsyncIterator[bytes]:
    return
    yield b""  # an async generator that sends nothing


async def call(
    channel: grpc.aio.Channel,
    rpc: Rpc,
    message: bytes,
    metadata: Sequence[tuple[str, str]] = (),
    *,
    stream_message: bool = True,
) -> Answer:
    """Send ``message`` (raw bytes) once; the status, or OK once a server stream has started.
    ``stream_message=False``: a client stream sends no message, for checks made on the
    metadata alone. A message written after the server already ended the call is reported by
    grpc's asyncio client as INTERNAL "Internal error from Core" instead of the server's status
    (grpc/grpc#36066), a race the authentication checks would otherwise lose now and then."""
    method = rpc.method
    md = tuple(metadata)
    requests = _one(message) if stream_message else _none()
    try:
        if method.server_streaming:
            stream: Any
            if method.client_streaming:
                stream = channel.stream_stream(rpc.path, _identity, _identity)(
                    requests, timeout=CALL_SECONDS, metadata=md
                )
            else:
                stream = channel.unary_stream(rpc.path, _identity, _identity)(
                    message, timeout=CALL_SECONDS, metadata=md
                )
            try:
                await asyncio.wait_for(stream.read(), FIRST_MESSAGE_SECONDS)
            except TimeoutError:
                pass  # started and waiting (Subscribe): not refused
            finally:
                stream.cancel()
        elif method.client_streaming:
            await channel.stream_unary(rpc.path, _identity, _identity)(
                requests, timeout=CALL_SECONDS, metadata=md
            )
        else:
            await channel.unary_unary(rpc.path, _identity, _identity)(
                message, timeout=CALL_SECONDS, metadata=md
            )
    except grpc.aio.AioRpcError as err:
        info = error_info(err)
        return Answer(
            err.code(),
            err.details() or "",
            info.reason if info is not None else None,
            dict(info.metadata) if info is not None else {},
        )
    return Answer(grpc.StatusCode.OK)


async def row_counts(dsn: str) -> dict[str, int]:
    """Rows of every table of every database of the stack's PostgreSQL: equal before and after
    means nothing was written (inserted or deleted)."""
    counts: dict[str, int] = {}
    admin = await asyncpg.connect(dsn)
    try:
        databases = [
            row["datname"]
            for row in await admin.fetch(
                "SELECT datname FROM pg_database WHERE NOT datistemplate AND datallowconn"
            )
        ]
    finally:
        await admin.close()
    for database in databases:
        connection = await asyncpg.connect(dsn, database=database)
        try:
            tables = await connection.fetch(
                "SELECT schemaname, tablename FROM pg_tables"
                " WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
            )
            for table in tables:
                name = f'"{table["schemaname"]}"."{table["tablename"]}"'
                counts[f"{database}.{name}"] = await connection.fetchval(
                    f"SELECT count(*) FROM {name}"  # names from the catalog
                )
        finally:
            await connection.close()
    return counts
