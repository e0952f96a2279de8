"""Replay: events folded on top of a state with the kernel's fold input (no servers)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fundledger_kernel.fund import empty_state
from fundledger_kernel.fund.fold_input import LogGapError, LoggedEvent, UnreadableEventError
from snapshotter.domain.model import Progress
from snapshotter.domain.replay import Replay

FUND = "fund-6b1d"
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


def start() -> Replay:
    return Replay(empty_state(FUND), None, 0, 0)


def test_extended_folds_counts_and_moves_the_position() -> None:
    first = start().extended([created(), called(2)])
    assert (first.state.version, first.state.called) == (2, 5)
    assert (first.events_replayed, first.position) == (2, 102)
    second = first.extended([called(3, 7)])
    assert (second.state.version, second.state.called) == (3, 12)
    assert (second.events_replayed, second.position) == (3, 103)
    assert second.extended([]) is second


def test_a_version_missing_or_repeated_is_a_gap() -> None:
    for events in ([created(), called(3)], [created(), created()], [called(2)]):
        with pytest.raises(LogGapError) as caught:
            start().extended(events)
        assert caught.value.fund_id == FUND


def test_an_unreadable_payload_names_its_version_and_type() -> None:
    with pytest.raises(UnreadableEventError) as caught:
        start().extended([created(), called(2, "lots")])
    assert (caught.value.fund_id, caught.value.version) == (FUND, 2)
    assert caught.value.event_type == "CAPITAL_CALLED"


def test_progress_of_an_event() -> None:
    event = called(7)
    assert Progress.of(event) == Progress(FUND, 7, 107, event.recorded_at)
