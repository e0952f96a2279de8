"""One call of each kind the benchmark makes, ready to be driven in a loop.

A workload opens its connections for a set of virtual clients and hands back
`call(client)`, which makes one call for that client and raises on any failure.
The event store's calls are here; the fund services' and allocation's are in
fund_workloads.py and allocation_workloads.py.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import uuid
from collections.abc import AsyncIterator, Sequence

import asyncpg
import grpc
from fundledger.eventstore.v1 import eventstore_pb2_grpc

from tests.bench.allocation_workloads import ALLOCATION_KINDS, open_allocation_workload
from tests.bench.echo_server import REPEAT_METHOD, repeat_request
from tests.bench.fund_workloads import FUND_KINDS, open_fund_workload
from tests.bench.layout import stream_id
from tests.bench.payloads import EVENT_TYPE, RAW_INSERT, RAW_UNNEST, append_request, event_data
from tests.bench.read_pages import events_in, read_request
from tests.bench.time_travel_rows import TIME_TRAVEL_KINDS, open_time_travel_workload
from tests.bench.transport import echo_secure, open_channel, open_channels
from tests.bench.workload_spec import CALL_TIMEOUT, Call, Workload, spread
from tests.support.echo import ECHO_METHOD

__all__ = ["CALL_TIMEOUT", "Call", "Workload", "open_workload"]


@contextlib.asynccontextmanager
async def open_workload(work: Workload, clients: Sequence[int]) -> AsyncIterator[Call]:
    if work.kind in ("insert", "unnest"):
        async with _insert(work, clients) as call:
            yield call
        return
    if work.kind in FUND_KINDS:
        async with open_fund_workload(work, clients) as call:
            yield call
        return
    if work.kind in TIME_TRAVEL_KINDS:
        async with open_time_travel_workload(work) as call:
            yield call
        return
    if work.kind in ALLOCATION_KINDS:
        async with open_allocation_workload(work, clients) as call:
            yield call
        return
    # The echo baselines serve what the services serve (TLS + token on a secure local run;
    # plaintext against a target, whose transport the local echo cannot copy).
    plaintext = work.plaintext or (work.kind in ("echo", "stream") and not echo_secure())
    if work.kind == "append" and work.connections > 1:
        async with open_channels(work.endpoint, work.connections, plaintext=plaintext) as chans:
            yield spread([_append(channel, work, clients) for channel in chans])
        return
    async with open_channel(work.endpoint, plaintext=plaintext) as channel:
        if work.kind == "echo":
            yield _echo(channel, work.payload_bytes)
        elif work.kind == "stream":
            yield _stream(channel, work.events, work.payload_bytes)
        elif work.kind == "append":
            yield _append(channel, work, clients)
        else:
            yield _read(channel, work)


def _echo(channel: grpc.aio.Channel, size: int) -> Call:
    echo = channel.unary_unary(ECHO_METHOD, None, None)
    payload = b"x" * size

    async def call(client: int) -> None:
        answer = await echo(payload, timeout=CALL_TIMEOUT)
        if len(answer) != size:
            raise RuntimeError("echo answered a different payload")

    return call


def _stream(channel: grpc.aio.Channel, count: int, size: int) -> Call:
    repeat = channel.unary_stream(REPEAT_METHOD, None, None)
    request = repeat_request(count, b"x" * size)

    async def call(client: int) -> None:
        got = 0
        async for _ in repeat(request, timeout=CALL_TIMEOUT):
            got += 1
        if got != count:
            raise RuntimeError(f"streamed {got} messages, expected {count}")

    return call


def _append(channel: grpc.aio.Channel, work: Workload, clients: Sequence[int]) -> Call:
    stub = eventstore_pb2_grpc.EventStoreServiceStub(channel)
    requests = {}
    for client in clients:
        if work.shared_streams:
            stream = f"fund-{work.tag}-shared-{client % work.shared_streams}"
        else:
            stream = f"fund-{work.tag}-{client}"
        requests[client] = append_request(stream, client, work.events, work.effective_at)

    async def call(client: int) -> None:
        response = await stub.AppendToStream(requests[client], timeout=CALL_TIMEOUT)
        if response.last_version - response.first_version + 1 != work.events:
            raise RuntimeError("append answered a different batch size")

    return call


def _read(channel: grpc.aio.Channel, work: Workload) -> Call:
    stub = eventstore_pb2_grpc.EventStoreServiceStub(channel)
    rng = random.Random()

    async def call(client: int) -> None:
        request = read_request(
            stream_id(work.tag, rng.randrange(work.streams)),
            work.events,
            batch_size=work.batch_size,
            one_per_message=work.one_per_message,
        )
        got = 0
        async for response in stub.ReadStream(request, timeout=CALL_TIMEOUT):
            got += events_in(response)
        if got != work.events:
            raise RuntimeError(f"read {got} events, expected {work.events}")

    return call


@contextlib.asynccontextmanager
async def _insert(work: Workload, clients: Sequence[int]) -> AsyncIterator[Call]:
    """BEGIN; INSERT one event-shaped row; COMMIT — one connection per client. "unnest":
    BEGIN; INSERT `events` rows in one INSERT ... SELECT FROM unnest(...); COMMIT."""
    conns: dict[int, asyncpg.Connection] = {}
    try:
        for client in clients:
            conns[client] = await asyncpg.connect(work.endpoint)
        versions = dict.fromkeys(clients, 0)

        async def call(client: int) -> None:
            conn = conns[client]
            data = event_data(client)
            if work.kind == "unnest":
                first = versions[client] + 1
                versions[client] += work.events
                async with conn.transaction():
                    await conn.execute(
                        RAW_UNNEST,
                        f"fund-{work.tag}-{client}",
                        EVENT_TYPE,
                        f"user-{client % 1000}",
                        list(range(first, first + work.events)),
                        [uuid.uuid4() for _ in range(work.events)],
                        [data.decode()] * work.events,
                        [hashlib.sha256(data).digest()] * work.events,
                        [str(uuid.uuid4()) for _ in range(work.events)],
                    )
                return
            versions[client] += 1
            async with conn.transaction():
                await conn.execute(
                    RAW_INSERT,
                    f"fund-{work.tag}-{client}",
                    versions[client],
                    uuid.uuid4(),
                    EVENT_TYPE,
                    data.decode(),
                    hashlib.sha256(data).digest(),
                    str(uuid.uuid4()),
                    f"user-{client % 1000}",
                )

        yield call
    finally:
        for conn in conns.values():
            await conn.close()
