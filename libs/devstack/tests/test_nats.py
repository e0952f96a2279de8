"""A real NATS server with JetStream: publish with acks; crash, restart and data loss."""

from __future__ import annotations

import uuid

import nats
import pytest
from fundledger_devstack.nats import NatsServer
from nats.js.errors import NotFoundError


async def test_jetstream_stream_publish_is_acknowledged(nats_server: NatsServer) -> None:
    name = f"T_{uuid.uuid4().hex[:8]}"
    nc = await nats.connect(nats_server.url)
    try:
        js = nc.jetstream()
        await js.add_stream(name=name, subjects=[f"{name}.>"])
        ack = await js.publish(f"{name}.a", b"hello")
        assert (ack.stream, ack.seq) == (name, 1)
    finally:
        await nc.close()


async def _publish_one(server: NatsServer, stream: str) -> None:
    nc = await nats.connect(server.url)
    try:
        js = nc.jetstream()
        await js.add_stream(name=stream, subjects=[f"{stream}.>"])
        await js.publish(f"{stream}.a", b"kept")
    finally:
        await nc.close()


async def _message_count(server: NatsServer, stream: str) -> int:
    nc = await nats.connect(server.url)
    try:
        info = await nc.jetstream().stream_info(stream)
        count: int = info.state.messages
        return count
    finally:
        await nc.close()


async def test_fresh_nats_survives_a_crash_and_loses_everything_when_wiped(
    fresh_nats: NatsServer,
) -> None:
    await _publish_one(fresh_nats, "FAULTS")

    fresh_nats.kill()
    assert not fresh_nats.running
    fresh_nats.restart()
    assert await _message_count(fresh_nats, "FAULTS") == 1

    fresh_nats.wipe_store()
    with pytest.raises(NotFoundError):
        await _message_count(fresh_nats, "FAULTS")
