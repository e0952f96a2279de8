"""FUNDLEDGER_EVENT_LOOP and the one place that creates a service's loop."""

from __future__ import annotations

import asyncio

import pytest
import uvloop
from fundledger_platform.event_loop import run_on_event_loop
from fundledger_platform.settings import ServerSettings, event_loop_from_env


def test_uvloop_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FUNDLEDGER_EVENT_LOOP", raising=False)
    assert event_loop_from_env() == "uvloop"
    monkeypatch.setenv("FUNDLEDGER_EVENT_LOOP", " ")  # blank = unset, as for every setting
    assert event_loop_from_env() == "uvloop"


def test_asyncio_turns_it_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FUNDLEDGER_EVENT_LOOP", "AsyncIO")
    assert event_loop_from_env() == "asyncio"
    assert ServerSettings.from_env("probe", 0, -1).event_loop == "asyncio"


def test_an_unknown_loop_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FUNDLEDGER_EVENT_LOOP", "trio")
    with pytest.raises(ValueError, match="FUNDLEDGER_EVENT_LOOP='trio' is not one of"):
        ServerSettings.from_env("probe", 0, -1)


async def _loop_type() -> type[asyncio.AbstractEventLoop]:
    return type(asyncio.get_running_loop())


def test_runs_on_the_named_loop() -> None:
    assert run_on_event_loop(_loop_type(), "uvloop") is uvloop.Loop
    assert not issubclass(run_on_event_loop(_loop_type(), "asyncio"), uvloop.Loop)


def test_a_hand_built_unknown_loop_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown event loop 'trio'"):
        run_on_event_loop(_loop_type(), "trio")
