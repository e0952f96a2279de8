"""BusConsumer against a real nats-server: one stream's messages go to one
handler call in delivery order, are acknowledged only after it returned, and all come back
when it failed; other streams are not held up by a slow one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import pytest
from fundledger.eventstore.v1.events_pb2 import RecordedEvent
from fundledger_devstack.nats import NatsServer
from fundledger_kernel.fund.fold_input import UnreadableEventError
from fundledger_platform.bus import connect_bus, ensure_stream
from fundledger_platform.consumer import (
    HALTED_MESSAGES,
    HALTED_STREAMS,
    BusConsumer,
    ConsumerSettings,
)
from nats.aio.client import Client

STREAM = "PLATFORM_BATCHES"


@pytest.fixture
async def nc(nats_server: NatsServer) -> AsyncIterator[Client]:
    client = await connect_bus(nats_server.url, "platform-batches")
    await ensure_stream(client.jetstream(), STREAM, ["batches.>"])
    yield client
    await client.close()


async def _publish(nc: Client, subject: str, stream_id: str, versions: range) -> None:
    js = nc.jetstream()
    for version in versions:
        event = RecordedEvent(stream_id=stream_id, version=version, event_type="E")
        await js.publish(f"batches.{subject}.{stream_id}", event.SerializeToString())


async def _until(check: object, what: str) -> None:
    for _ in range(300):
        if check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def _settings(subject: str, **overrides: object) -> ConsumerSettings:
    return ConsumerSettings(
        stream=STREAM,
        durable=f"d-{subject}",
        filter_subject=f"batches.{subject}.>",
        ack_wait_seconds=2.0,
        **overrides,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("confirm_acks", [True, False])
async def test_each_stream_in_order_acked_after_its_handler(nc: Client, confirm_acks: bool) -> None:
    subject = f"order{int(confirm_acks)}"
    await _publish(nc, subject, "a", range(1, 6))
    await _publish(nc, subject, "b", range(1, 4))
    calls: list[list[tuple[str, int]]] = []

    async def handle(events: Sequence[RecordedEvent]) -> None:
        assert len({e.stream_id for e in events}) == 1
        calls.append([(e.stream_id, e.version) for e in events])

    consumer = BusConsumer(
        nc.jetstream(),
        _settings(subject, confirm_acks=confirm_acks),
        handle,
    )
    consumer.start()
    try:
        await _until(lambda: consumer.delivered == 8, "eight acknowledged deliveries")
    finally:
        await consumer.stop()
    for stream_id, count in (("a", 5), ("b", 3)):
        seen = [v for call in calls for s, v in call if s == stream_id]
        assert seen == list(range(1, count + 1))
    info = await nc.jetstream().consumer_info(STREAM, f"d-{subject}")
    assert (info.num_ack_pending, info.num_pending) == (0, 0)


async def test_a_failed_call_leaves_its_messages_to_redelivery(nc: Client) -> None:
    await _publish(nc, "fail", "a", range(1, 4))
    attempts: list[list[int]] = []

    async def handle(events: Sequence[RecordedEvent]) -> None:
        attempts.append([e.version for e in events])
        if len(attempts) == 1:
            raise RuntimeError("first attempt fails")

    consumer = BusConsumer(nc.jetstream(), _settings("fail"), handle)
    consumer.start()
    try:
        await _until(lambda: consumer.delivered == 3, "the redelivered messages acknowledged")
    finally:
        await consumer.stop()
    handled_after_failure = sorted(v for attempt in attempts[1:] for v in attempt)
    assert handled_after_failure == sorted(attempts[0])  # every failed message came back


async def test_a_slow_stream_does_not_hold_up_another(nc: Client) -> None:
    await _publish(nc, "slow", "slow", range(1, 2))
    release = asyncio.Event()
    fast_done = asyncio.Event()

    async def handle(events: Sequence[RecordedEvent]) -> None:
        if events[0].stream_id == "slow":
            await release.wait()
        else:
            fast_done.set()

    consumer = BusConsumer(nc.jetstream(), _settings("slow"), handle)
    consumer.start()
    try:
        await asyncio.sleep(0.3)  # the slow stream's call is running
        await _publish(nc, "slow", "fast", range(1, 3))
        await asyncio.wait_for(fast_done.wait(), 5)
        # Fast's two are acknowledged while slow's call is still running.
        await _until(lambda: consumer.delivered == 2, "the fast stream's acks")
        assert not release.is_set()
        release.set()
        await _until(lambda: consumer.delivered == 3, "the slow stream's ack")
    finally:
        release.set()
        await consumer.stop()


async def test_an_unfoldable_stream_is_halted_and_the_others_keep_flowing(nc: Client) -> None:
    """A handler that finds a stream's log unfoldable halts that stream (terminated, counted,
    never redelivered in a loop); another stream's events are applied meanwhile and after."""
    await _publish(nc, "halt", "bad", range(1, 3))
    calls: list[tuple[str, list[int]]] = []

    async def handle(events: Sequence[RecordedEvent]) -> None:
        calls.append((events[0].stream_id, [e.version for e in events]))
        if events[0].stream_id == "bad":
            raise UnreadableEventError("bad", events[0].version, "E", "not JSON")

    halted_before = _halted_messages("d-halt")
    consumer = BusConsumer(nc.jetstream(), _settings("halt"), handle)
    consumer.start()
    try:
        await _until(lambda: "bad" in consumer.halted, "the bad stream halted")
        await _publish(nc, "halt", "bad", range(3, 5))
        await _publish(nc, "halt", "good", range(1, 4))
        await _until(lambda: consumer.delivered == 3, "the good stream's acks")
        await _until(lambda: _halted_messages("d-halt") - halted_before == 4, "4 terminated")
        # Past ack_wait (2 s): nothing of the halted stream comes back.
        await asyncio.sleep(2.5)
    finally:
        await consumer.stop()
    bad_calls = [versions for stream, versions in calls if stream == "bad"]
    assert len(bad_calls) == 1, bad_calls  # handled once, then halted: no redelivery loop
    assert sorted(v for s, vs in calls if s == "good" for v in vs) == [1, 2, 3]
    assert HALTED_STREAMS.labels("d-halt")._value.get() == 1
    assert "not JSON" in consumer.halted["bad"]


def _halted_messages(durable: str) -> float:
    return float(HALTED_MESSAGES.labels(durable)._value.get())
