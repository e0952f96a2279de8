"""The append use case (group commit) against a fake GroupWriter: grouping, each append's
own outcome, per-append retries after an interrupted group, and shutdown.

Pure: asyncio only, no servers. The real writer (adapters/group_write.py) is exercised
by the integration tests through the service.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import pytest
from eventstore.domain.append_request import Limits, RawEvent, validate_append
from eventstore.domain.model import AppendCommand, AppendResult, Expected, ExpectedKind
from eventstore.service_layer.append import Appender
from eventstore.service_layer.ports import GroupOutcome, GroupWriteInterrupted
from fundledger_platform.errors import Aborted, DomainError, Unavailable
from fundledger_platform.reasons import Reason

AT = datetime(2026, 1, 2, tzinfo=UTC)


def command(stream_id: str) -> AppendCommand:
    events = [RawEvent(event_id="", event_type="NOTE_ADDED", schema_version=1, data=b"{}")]
    return validate_append(stream_id, Expected(ExpectedKind.ANY), events, "", Limits())


def result(position: int) -> AppendResult:
    return AppendResult(1, 1, position, position, AT, ("id",))


Decide = Callable[[int, AppendCommand], AppendResult | DomainError]


class FakeWriter:
    """Writes nothing; answers each append with `decide(index in group, command)`.
    Streams in `interrupt` make the whole group fail with GroupWriteInterrupted
    (`interrupt[stream]` more times when alone)."""

    def __init__(self, decide: Decide | None = None) -> None:
        self.groups: list[list[str]] = []
        self.interrupt: dict[str, int] = {}
        self.gate: asyncio.Event | None = None
        self.closed = 0
        self._decide = decide or (lambda i, c: result(len(self.groups) * 100 + i))

    async def write(self, commands: Sequence[AppendCommand]) -> GroupOutcome:
        self.groups.append([c.stream_id for c in commands])
        if self.gate is not None:
            await self.gate.wait()
        streams = [c.stream_id for c in commands]
        failing = [s for s in streams if s in self.interrupt]
        if failing and (len(streams) > 1 or self.interrupt[failing[0]] > 0):
            if len(streams) == 1:
                self.interrupt[failing[0]] -= 1
            raise GroupWriteInterrupted("deadlock detected")
        outcome = GroupOutcome()
        for i, c in enumerate(commands):
            outcome.results[i] = self._decide(i, c)
        return outcome

    async def close(self) -> None:
        self.closed += 1


async def writing(writer: FakeWriter) -> None:
    """Returns once the writer holds its first group (at its gate)."""
    for _ in range(100):
        if writer.groups:
            return
        await asyncio.sleep(0)
    raise AssertionError("the appender never wrote")


async def started(writer: FakeWriter, **kwargs: int) -> Appender:
    appender = Appender(writer, **kwargs)
    appender.start()
    return appender


async def test_appends_queued_behind_a_commit_go_in_one_group() -> None:
    writer = FakeWriter()
    writer.gate = asyncio.Event()
    appender = await started(writer)
    first = asyncio.create_task(appender.append(command("s-0")))
    await writing(writer)
    rest = [asyncio.create_task(appender.append(command(f"s-{i}"))) for i in (1, 2, 3)]
    await asyncio.sleep(0)
    writer.gate.set()
    results = await asyncio.gather(first, *rest)
    assert writer.groups == [["s-0"], ["s-1", "s-2", "s-3"]]
    assert [r.first_position for r in results] == [100, 200, 201, 202]
    await appender.stop()
    assert writer.closed == 1  # the writer gives back its connection once writing is over


async def test_group_limits_split_the_queue() -> None:
    writer = FakeWriter()
    writer.gate = asyncio.Event()
    appender = await started(writer, max_group_appends=2)
    first = asyncio.create_task(appender.append(command("s-0")))
    await writing(writer)
    rest = [asyncio.create_task(appender.append(command(f"s-{i}"))) for i in (1, 2, 3)]
    await asyncio.sleep(0)
    writer.gate.set()
    await asyncio.gather(first, *rest)
    assert writer.groups == [["s-0"], ["s-1", "s-2"], ["s-3"]]
    await appender.stop()


async def test_each_append_gets_its_own_outcome() -> None:
    conflict = Aborted("wrong version", reason=Reason.WRONG_EXPECTED_VERSION)

    def decide(i: int, c: AppendCommand) -> AppendResult | DomainError:
        return conflict if c.stream_id == "s-bad" else result(i)

    writer = FakeWriter(decide)
    writer.gate = asyncio.Event()
    appender = await started(writer)
    first = asyncio.create_task(appender.append(command("s-0")))
    await writing(writer)
    bad = asyncio.create_task(appender.append(command("s-bad")))
    good = asyncio.create_task(appender.append(command("s-good")))
    await asyncio.sleep(0)
    writer.gate.set()
    await first
    with pytest.raises(Aborted):
        await bad
    assert (await good).first_position == 1
    await appender.stop()


async def test_an_interrupted_group_is_retried_one_append_at_a_time() -> None:
    writer = FakeWriter()
    writer.gate = asyncio.Event()
    writer.interrupt = {"s-flaky": 1, "s-broken": 3}
    appender = await started(writer)
    first = asyncio.create_task(appender.append(command("s-0")))
    await writing(writer)
    names = ["s-ok", "s-flaky", "s-broken", "s-fine"]
    tasks = [asyncio.create_task(appender.append(command(n))) for n in names]
    await asyncio.sleep(0)
    writer.gate.set()
    await first
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(outcomes[0], AppendResult)
    assert isinstance(outcomes[1], AppendResult)  # succeeded on its second try alone
    assert isinstance(outcomes[2], Unavailable)  # three tries alone, all interrupted
    assert outcomes[2].reason is Reason.APPEND_FAILED
    assert isinstance(outcomes[3], AppendResult)  # its neighbours' failures did not touch it
    assert writer.groups[1] == names
    alone = writer.groups[2:]
    assert all(len(g) == 1 for g in alone)
    tries = ["s-ok", "s-flaky", "s-flaky", "s-broken", "s-broken", "s-broken", "s-fine"]
    assert [g[0] for g in alone] == tries
    await appender.stop()


async def test_stop_finishes_queued_appends_then_refuses_new_ones() -> None:
    writer = FakeWriter()
    appender = await started(writer)
    queued = [asyncio.create_task(appender.append(command(f"s-{i}"))) for i in range(5)]
    await asyncio.sleep(0)
    await appender.stop()
    assert all(task.done() and not task.exception() for task in queued)
    with pytest.raises(Unavailable) as caught:
        await appender.append(command("s-late"))
    assert caught.value.reason is Reason.SHUTTING_DOWN
