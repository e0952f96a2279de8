"""A refused upload reads on what the client still sends, within bounds, before it answers.

(A grpc.aio client still writing when the server ends the call can report INTERNAL instead of
the server's status; tests/contract/test_hostile_input.py sends uploads out of order end to end.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from fundledger.storage.v1 import storage_pb2 as pb
from storage.entrypoints.upload_stream import DRAIN_MAX_BYTES, DRAIN_MAX_MESSAGES, drain


class Stream:
    def __init__(self, messages: list[pb.UploadFileRequest], fail_after: int | None = None):
        self.messages = messages
        self.fail_after = fail_after
        self.read = 0

    async def __aiter__(self) -> AsyncIterator[pb.UploadFileRequest]:
        for message in self.messages:
            if self.fail_after is not None and self.read >= self.fail_after:
                raise ConnectionResetError("client went away")
            self.read += 1
            yield message


async def test_drain_reads_to_the_end_of_a_short_stream() -> None:
    stream = Stream([pb.UploadFileRequest(chunk=b"x")] * 5)
    await drain(aiter(stream))
    assert stream.read == 5


async def test_drain_stops_at_its_bounds() -> None:
    many = Stream([pb.UploadFileRequest()] * (DRAIN_MAX_MESSAGES + 10))
    await drain(aiter(many))
    assert many.read == DRAIN_MAX_MESSAGES
    chunk = pb.UploadFileRequest(chunk=b"x" * (1024 * 1024))
    large = Stream([chunk] * 20)
    await drain(aiter(large))
    assert large.read == -(-DRAIN_MAX_BYTES // chunk.ByteSize())


async def test_a_stream_failing_while_drained_ends_the_drain() -> None:
    stream = Stream([pb.UploadFileRequest()] * 5, fail_after=2)
    await drain(aiter(stream))
    assert stream.read == 2
