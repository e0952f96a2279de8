"""History.select: events folded with the kernel's fold input, from in-memory ports (no servers)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fundledger_kernel.fund.fold_input import LogGapError, LoggedEvent, UnreadableEventError
from snapshotter.domain.axes import Axes
from snapshotter.domain.model import Progress
from snapshotter.domain.replay import Replay
from snapshotter.service_layer.history import History
from two_axis_fakes import FUND, FakeLog, FakeSnapshots

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def logged(version: int, event_type: str, **data: Any) -> LoggedEvent:
    return LoggedEvent(
        stream_id=FUND,
        version=version,
        position=100 + version,
        event_id=f"e{version}",
        event_type=event_type,
        data=json.dumps(data).encode(),
        recorded_at=T0 + timedelta(seconds=version),
    )


def created(version: int = 1) -> LoggedEvent:
    return logged(
        version,
        "FUND_CREATED",
        name="F",
        committed_capital_cents=1000,
        currency="USD",
        vintage_year=2024,
    )


def called(version: int, amount: Any = 5) -> LoggedEvent:
    return logged(version, "CAPITAL_CALLED", amount_cents=amount)


def select(events: list[LoggedEvent], axes: Axes) -> Replay:
    history = History(FakeSnapshots(), FakeLog(events))  # type: ignore[arg-type]
    return asyncio.run(history.select(FUND, axes))


def test_select_folds_counts_and_moves_the_position() -> None:
    first = select([created(), called(2)], Axes())
    assert (first.state.version, first.state.called) == (2, 5)
    assert (first.events_replayed, first.position) == (2, 102)
    assert first.read_through == T0 + timedelta(seconds=2)
    second = select([created(), called(2), called(3, 7)], Axes(at_version=3))
    assert (second.state.version, second.state.called) == (3, 12)
    assert (second.events_replayed, second.position) == (3, 103)


def test_a_version_missing_or_repeated_is_a_gap() -> None:
    for events in ([created(), called(3)], [created(), created()], [called(2)]):
        with pytest.raises(LogGapError) as caught:
            select(events, Axes())
        assert caught.value.fund_id == FUND


def test_a_log_ending_before_the_version_asked_is_a_gap() -> None:
    with pytest.raises(LogGapError):
        select([created(), called(2)], Axes(at_version=3))


def test_an_unreadable_payload_names_its_version_and_type() -> None:
    with pytest.raises(UnreadableEventError) as caught:
        select([created(), called(2, "lots")], Axes())
    assert (caught.value.fund_id, caught.value.version) == (FUND, 2)
    assert caught.value.event_type == "CAPITAL_CALLED"


def test_progress_of_an_event() -> None:
    event = called(7)
    assert Progress.of(event) == Progress(FUND, 7, 107, event.recorded_at)
