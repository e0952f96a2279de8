"""What must hold after the faults, read back from the stack itself: the log (exactly the
acknowledged appends, each once, versions contiguous), the read models (the projection and
time travel equal the kernel's fold of the log), the bus (every event once) and every hash
chain (it verifies, its head is the last event's hash). All of it:
``assert_the_stack_holds_exactly_the_acknowledged``.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import TypeVar

import grpc
import nats
import nats.errors
from fundledger.eventstore.v1 import events_pb2, eventstore_pb2, eventstore_pb2_grpc
from fundledger.projector.v1 import projector_pb2, projector_pb2_grpc
from fundledger.snapshotter.v1 import snapshotter_pb2, snapshotter_pb2_grpc
from fundledger_kernel.fund import empty_state, state_to_proto
from fundledger_kernel.fund.fold_input import LoggedEvent, fold_logged
from fundledger_platform.recorded import logged_event
from fundledger_platform.settings import DEFAULT_BUS_STREAM, DEFAULT_BUS_SUBJECT_PREFIX
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from tests.faults.appenders import RETRY_PAUSE, RETRYABLE, Clients, Ledger
from tests.support.chain_verify import assert_every_chain_verifies
from tests.support.waiting import wait_until

# Bounds for slow machines, not timed expectations.
CALL_SECONDS = 30.0
CATCH_UP_SECONDS = 60.0

T = TypeVar("T")


async def read_log(channel: grpc.aio.Channel, fund_id: str) -> list[events_pb2.RecordedEvent]:
    store = eventstore_pb2_grpc.EventStoreServiceStub(channel)
    pages = store.ReadStream(
        eventstore_pb2.ReadStreamRequest(stream_id=fund_id), timeout=CALL_SECONDS
    )
    return [event async for page in pages for event in page.events]


def assert_log_holds_exactly_the_acknowledged(
    fund_id: str, log: list[events_pb2.RecordedEvent], ledger: Ledger
) -> None:
    """Versions 1..n without a gap or a repeat; every acknowledged event id once, at the
    version its acknowledgement named; nothing that was not acknowledged (every request the
    clients sent was acknowledged in the end)."""
    versions = [event.version for event in log]
    assert versions == list(range(1, len(log) + 1)), f"{fund_id}: versions {versions}"
    counts = Counter(event.event_id for event in log)
    repeated = {event_id: n for event_id, n in counts.items() if n > 1}
    assert not repeated, f"{fund_id}: events in the log more than once: {repeated}"
    at_version = {event.event_id: event.version for event in log}
    expected: dict[str, int] = {}
    for ack in ledger.acked:
        if ack.fund_id != fund_id:
            continue
        for offset, event_id in enumerate(ack.event_ids):
            version = ack.first_version + offset
            # A replay answers with the original versions: one id, one version, always.
            assert expected.setdefault(event_id, version) == version, (fund_id, event_id)
    missing = sorted(set(expected) - set(at_version))
    assert not missing, f"{fund_id}: acknowledged but not in the log: {missing}"
    unexpected = sorted(set(at_version) - set(expected))
    assert not unexpected, f"{fund_id}: in the log but never acknowledged: {unexpected}"
    moved = {e: (v, at_version[e]) for e, v in expected.items() if at_version[e] != v}
    assert not moved, f"{fund_id}: acknowledged version != logged version: {moved}"


async def assert_read_models_agree_with_the_fold(
    channels: dict[str, grpc.aio.Channel], fund_id: str, log: list[LoggedEvent]
) -> None:
    """The projection (read-your-writes at the log's version) and time travel at that version
    are exactly the kernel's fold of the log."""
    expected = state_to_proto(fold_logged(empty_state(fund_id), log))
    version = log[-1].version
    projector = projector_pb2_grpc.ProjectorServiceStub(channels["projector"])
    projected = await projector.GetFundState(
        projector_pb2.GetFundStateRequest(fund_id=fund_id, min_version=version),
        timeout=CALL_SECONDS,
    )
    assert projected.state == expected, f"{fund_id}: projection differs from the fold"
    snapshotter = snapshotter_pb2_grpc.SnapshotterServiceStub(channels["snapshotter"])
    travelled = await snapshotter.GetFundStateAt(
        snapshotter_pb2.GetFundStateAtRequest(fund_id=fund_id, at_version=version),
        timeout=CALL_SECONDS,
    )
    assert travelled.version == version, (fund_id, travelled.version, version)
    assert travelled.state == expected, f"{fund_id}: time travel differs from the fold"


async def bus_event_ids(nats_url: str, expected_total: int) -> Counter[str]:
    """How many times each event id (Nats-Msg-Id) is on the event stream, once the stream
    holds at least ``expected_total`` messages (the relay may still be catching up)."""
    client = await nats.connect(nats_url, name="fault-test-reader", allow_reconnect=False)
    try:
        js = client.jetstream()

        async def holds_all() -> bool:
            info = await js.stream_info(DEFAULT_BUS_STREAM)
            return info.state is not None and info.state.messages >= expected_total

        await wait_until(holds_all, f"the bus to hold {expected_total} events", CATCH_UP_SECONDS)
        info = await js.stream_info(DEFAULT_BUS_STREAM)
        assert info.state is not None
        total = int(info.state.messages)
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.NONE,
            inactive_threshold=30.0,
        )
        sub = await js.pull_subscribe(
            f"{DEFAULT_BUS_SUBJECT_PREFIX}.>", stream=DEFAULT_BUS_STREAM, config=config
        )
        seen: Counter[str] = Counter()
        read = 0
        deadline = time.monotonic() + CATCH_UP_SECONDS
        try:
            while read < total:
                assert time.monotonic() < deadline, f"read {read} of {total} bus messages"
                try:
                    batch = await sub.fetch(min(256, total - read), timeout=1.0)
                except nats.errors.TimeoutError:
                    continue
                for message in batch:
                    read += 1
                    event = events_pb2.RecordedEvent()
                    event.ParseFromString(message.data)
                    msg_id = (message.headers or {}).get("Nats-Msg-Id")
                    assert msg_id == event.event_id, (msg_id, event.event_id)
                    seen[event.event_id] += 1
        finally:
            await sub.unsubscribe()
        return seen
    finally:
        await client.close()


def assert_bus_holds_every_event_once(
    seen: Counter[str], logs: dict[str, list[events_pb2.RecordedEvent]]
) -> None:
    in_log = {event.event_id for log in logs.values() for event in log}
    repeated = {event_id: n for event_id, n in seen.items() if n > 1}
    assert not repeated, f"events on the bus more than once: {repeated}"
    missing = sorted(in_log - set(seen))
    assert not missing, f"{len(missing)} logged events never reached the bus: {missing[:20]}"
    foreign = sorted(set(seen) - in_log)
    assert not foreign, f"bus messages that are in no log: {foreign[:20]}"


async def _retrying(
    what: str,
    call: Callable[[], Awaitable[T]],
    within: float,
) -> T:
    """``call()`` again after a transient failure, bounded by ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        try:
            return await call()
        except grpc.aio.AioRpcError as err:
            code = err.code()
            if code not in RETRYABLE or time.monotonic() >= deadline:
                raise AssertionError(f"{what}: {code.name} {err.details()}") from None
        await asyncio.sleep(RETRY_PAUSE)


async def assert_read_models_follow(
    channels: dict[str, grpc.aio.Channel],
    fund_id: str,
    version: int,
    within: float,
) -> None:
    """Both read models answer for ``fund_id`` at ``version`` (just acknowledged): not only
    SERVING after a restart, but following the log again. Transient failures are retried,
    bounded by ``within`` seconds; anything else fails the test."""
    projector = projector_pb2_grpc.ProjectorServiceStub(channels["projector"])
    snapshotter = snapshotter_pb2_grpc.SnapshotterServiceStub(channels["snapshotter"])
    projected = await _retrying(
        f"the projector did not answer for {fund_id} v{version}",
        lambda: projector.GetFundState(
            projector_pb2.GetFundStateRequest(fund_id=fund_id, min_version=version),
            timeout=CALL_SECONDS,
        ),
        within,
    )
    assert projected.state.version >= version, (fund_id, projected.state.version, version)
    travelled = await _retrying(
        f"the snapshotter did not answer for {fund_id} v{version}",
        lambda: snapshotter.GetFundStateAt(
            snapshotter_pb2.GetFundStateAtRequest(fund_id=fund_id, at_version=version),
            timeout=CALL_SECONDS,
        ),
        within,
    )
    assert travelled.version == version, (fund_id, travelled.version, version)


async def assert_the_stack_holds_exactly_the_acknowledged(
    channels: dict[str, grpc.aio.Channel], nats_url: str, funds: list[str], ledger: Ledger
) -> int:
    """Every check of this module over ``funds``; the number of events their logs hold."""
    # The log: exactly what was acknowledged, once, versions contiguous.
    logs = {fund_id: await read_log(channels["event-store"], fund_id) for fund_id in funds}
    for fund_id, log in logs.items():
        assert_log_holds_exactly_the_acknowledged(fund_id, log, ledger)
    # The read models: the projection and time travel are the fold of the log.
    for fund_id, log in logs.items():
        await assert_read_models_agree_with_the_fold(
            channels, fund_id, [logged_event(event) for event in log]
        )
    # The bus: every logged event exactly once on the event stream.
    total = sum(len(log) for log in logs.values())
    assert_bus_holds_every_event_once(await bus_event_ids(nats_url, total), logs)
    # Every chain verifies, up to the last event's hash.
    verdicts = await assert_every_chain_verifies(channels["event-store"], funds)
    for fund_id, verdict in verdicts.items():
        assert verdict.version == len(logs[fund_id])
        assert verdict.head_hash == logs[fund_id][-1].hash.hex()
    return total


async def assert_the_stack_moves_again(
    clients: Clients, channels: dict[str, grpc.aio.Channel], count: int, what: str, seconds: float
) -> None:
    """After a fault: ``count`` more appends acknowledged, and the read models reach the
    latest of them."""
    await clients.progress(count, what, seconds)
    latest = clients.ledger.acked[-1]
    await assert_read_models_follow(channels, latest.fund_id, latest.last_version, seconds)
