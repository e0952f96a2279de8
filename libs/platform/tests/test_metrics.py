"""Prometheus: call counters and timings, served on the scrape endpoint."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request

import grpc
import pytest
from fundledger_platform.metrics import start_metrics_server, stop_metrics_server
from platform_probe import PROBE_SERVICE, MakeServer, bytes_method, drain
from prometheus_client import REGISTRY


def _handled(method: str, code: str) -> float:
    value = REGISTRY.get_sample_value(
        "fundledger_grpc_server_handled_total",
        {"service": PROBE_SERVICE, "method": method, "code": code},
    )
    return value or 0.0


def _timed(method: str) -> float:
    value = REGISTRY.get_sample_value(
        "fundledger_grpc_server_handling_seconds_count",
        {"service": PROBE_SERVICE, "method": method},
    )
    return value or 0.0


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        body: bytes = response.read()
    return body.decode()


async def test_calls_are_counted_by_code_and_timed(make_server: MakeServer) -> None:
    server, _ = await make_server(metrics_port=0)
    assert server.metrics_port is not None
    assert server.metrics_port > 0
    before = {code: _handled("Unary", code) for code in ("OK", "INVALID_ARGUMENT", "INTERNAL")}
    stream_before = _handled("ServerStream", "INVALID_ARGUMENT")
    timed_before = _timed("Unary")

    async with grpc.aio.insecure_channel(server.address) as channel:
        unary = bytes_method(channel, "unary_unary", "Unary")
        await unary(b"ok")
        await unary(b"ok")
        for bad in (b"invalid", b"boom"):
            with pytest.raises(grpc.aio.AioRpcError):
                await unary(bad)
        await drain(bytes_method(channel, "unary_stream", "ServerStream")(b"invalid"))

    assert _handled("Unary", "OK") - before["OK"] == 2
    assert _handled("Unary", "INVALID_ARGUMENT") - before["INVALID_ARGUMENT"] == 1
    assert _handled("Unary", "INTERNAL") - before["INTERNAL"] == 1
    assert _handled("ServerStream", "INVALID_ARGUMENT") - stream_before == 1
    assert _timed("Unary") - timed_before == 4

    text = await asyncio.to_thread(_scrape, server.metrics_port)
    assert (
        f'fundledger_grpc_server_handled_total{{code="OK",method="Unary",service="{PROBE_SERVICE}"}}'
        in text
    )
    assert "fundledger_grpc_server_handling_seconds_bucket" in text


async def test_cancel_and_deadline_are_told_apart(make_server: MakeServer) -> None:
    server, _ = await make_server()
    cancelled_before = _handled("ServerStream", "CANCELLED")
    deadline_before = _handled("Unary", "DEADLINE_EXCEEDED")
    async with grpc.aio.insecure_channel(server.address) as channel:
        call = bytes_method(channel, "unary_stream", "ServerStream")(b"forever")
        await call.read()
        call.cancel()
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await bytes_method(channel, "unary_unary", "Unary")(b"slow:2", timeout=0.2)
        assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    for _ in range(100):
        if (
            _handled("ServerStream", "CANCELLED") > cancelled_before
            and _handled("Unary", "DEADLINE_EXCEEDED") > deadline_before
        ):
            break
        await asyncio.sleep(0.05)
    assert _handled("ServerStream", "CANCELLED") - cancelled_before == 1
    assert _handled("Unary", "DEADLINE_EXCEEDED") - deadline_before == 1


async def test_metrics_server_port_zero_disabled_and_idempotent() -> None:
    assert start_metrics_server(-1) is None
    port = await asyncio.to_thread(start_metrics_server, 0)
    try:
        assert port is not None
        assert port > 0
        assert start_metrics_server(0) == port  # already running: same endpoint
        assert "python_info" in await asyncio.to_thread(_scrape, port)
    finally:
        await asyncio.to_thread(stop_metrics_server)
    await asyncio.to_thread(stop_metrics_server)  # stopping twice is harmless
    with pytest.raises(urllib.error.URLError, match="refused"):
        await asyncio.to_thread(_scrape, port)


def test_metrics_port_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="metrics port"):
        start_metrics_server(70000)
