"""The service runs on the event loop FUNDLEDGER_EVENT_LOOP names (uvloop by default), says so
in its first log line, and serves gRPC on it; a bad value stops it at start-up, naming the
setting. A real `python -m allocation` process: the one service that needs no database."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

NO_EVENT_STORE = "127.0.0.1:1"  # nothing listens: the service serves, health says NOT_SERVING


def _env(event_loop: str | None) -> dict[str, str]:
    env = {
        **os.environ,
        "FUNDLEDGER_GRPC_PORT": "0",
        "FUNDLEDGER_METRICS_PORT": "-1",
        "FUNDLEDGER_LOG_LEVEL": "INFO",
        "FUNDLEDGER_EVENTSTORE_ADDRESS": NO_EVENT_STORE,
        # One serving process (no supervisor): the test reads that process's log lines.
        "FUNDLEDGER_WORKERS": "1",
    }
    env.pop("FUNDLEDGER_EVENT_LOOP", None)
    if event_loop is not None:
        env["FUNDLEDGER_EVENT_LOOP"] = event_loop
    return env


async def _serve_and_stop(event_loop: str | None) -> list[dict[str, object]]:
    """The log lines up to "serving", after one health call to the running process."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "allocation", env=_env(event_loop), stderr=asyncio.subprocess.PIPE
    )
    assert process.stderr is not None
    lines: list[dict[str, object]] = []
    try:
        while "grpc_port" not in (lines[-1] if lines else {}):
            raw = await asyncio.wait_for(process.stderr.readline(), 30)
            assert raw, f"the service exited before serving: {lines}"
            lines.append(json.loads(raw))
        async with grpc.aio.insecure_channel(f"127.0.0.1:{lines[-1]['grpc_port']}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert reply.status in (
            health_pb2.HealthCheckResponse.SERVING,
            health_pb2.HealthCheckResponse.NOT_SERVING,
        )
        process.send_signal(signal.SIGTERM)
        await process.stderr.read()
        assert await asyncio.wait_for(process.wait(), 15) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return lines


def _loop_line(lines: list[dict[str, object]]) -> dict[str, object]:
    found = [line for line in lines if line.get("logger") == "fundledger_platform.event_loop"]
    assert len(found) == 1, lines
    return found[0]


@pytest.mark.parametrize(
    ("setting", "expected", "loop_class"),
    [
        (None, "uvloop", "uvloop.Loop"),
        ("uvloop", "uvloop", "uvloop.Loop"),
        ("asyncio", "asyncio", "asyncio.unix_events._UnixSelectorEventLoop"),
    ],
)
async def test_serves_on_the_configured_loop(
    setting: str | None, expected: str, loop_class: str
) -> None:
    line = _loop_line(await _serve_and_stop(setting))
    assert line["event_loop"] == expected
    assert line["event_loop_class"] == loop_class


async def test_an_unknown_loop_stops_the_service_naming_the_setting() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "allocation",
        env=_env("trio"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode != 0
    assert "FUNDLEDGER_EVENT_LOOP='trio' is not one of uvloop, asyncio" in output.decode()
