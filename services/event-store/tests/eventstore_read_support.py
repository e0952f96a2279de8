"""Read helpers shared by the ReadStream, ReadAll and Subscribe tests."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from eventstore_support import append, collect, event
from fundledger.eventstore.v1 import eventstore_pb2 as pb


async def fill(stub: Any, stream_id: str, count: int, **fields: Any) -> pb.AppendToStreamResponse:
    """Appends `count` events numbered 1..count (in batches of at most 100)."""
    last: pb.AppendToStreamResponse | None = None
    done = 0
    while done < count:
        size = min(100, count - done)
        batch = [event(data={"i": done + k + 1}, **fields) for k in range(size)]
        last = await stub.AppendToStream(append(stream_id, *batch))
        done += size
    assert last is not None
    return last


async def read(stub: Any, **fields: Any) -> list[Any]:
    return await collect(stub.ReadStream(pb.ReadStreamRequest(**fields)))


async def read_all(stub: Any, **fields: Any) -> list[Any]:
    return await collect(stub.ReadAll(pb.ReadAllRequest(**fields)))


async def read_error(call: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await collect(call)
    return caught.value
