"""Every hash chain verifies: VerifyLog over the whole log, then VerifyStream per stream, as
the tests that rebuild or disturb a whole stack (restore drill, whole-stack faults) check it."""

from __future__ import annotations

from collections.abc import Iterable

import grpc
from fundledger.eventstore.v1 import eventstore_pb2, eventstore_pb2_grpc

CALL_SECONDS = 60.0


async def assert_every_chain_verifies(
    channel: grpc.aio.Channel, stream_ids: Iterable[str]
) -> dict[str, eventstore_pb2.VerifyStreamResponse]:
    """VerifyLog finds no break and finishes; each of `stream_ids` verifies whole (every event
    checked against its stored hash, none left unverified). Returns the per-stream verdicts."""
    stub = eventstore_pb2_grpc.EventStoreServiceStub(channel)
    breaks: list[eventstore_pb2.ChainBreak] = []
    done = False
    async for progress in stub.VerifyLog(eventstore_pb2.VerifyLogRequest(), timeout=CALL_SECONDS):
        breaks.extend(progress.breaks)
        done = done or progress.done
    assert done, "VerifyLog ended without its final report"
    assert not breaks, [f"{b.stream_id} v{b.version}: {b.problem}" for b in breaks]
    verdicts = {}
    for stream_id in stream_ids:
        verdict = await stub.VerifyStream(
            eventstore_pb2.VerifyStreamRequest(stream_id=stream_id), timeout=CALL_SECONDS
        )
        assert verdict.ok, (stream_id, verdict)
        assert verdict.events_checked == verdict.version > 0, (stream_id, verdict)
        assert verdict.events_unverified == 0, (stream_id, verdict)
        verdicts[stream_id] = verdict
    return verdicts
