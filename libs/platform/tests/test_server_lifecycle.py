"""The server shape: port 0, health following readiness, reflection, graceful drain."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import grpc
import pytest
from fundledger_platform.server import build_server
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from platform_probe import PROBE_SERVICE, MakeServer, bytes_method, probe_settings

from tests.support.echo import ECHO_METHOD, register_echo

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def _status(channel: grpc.aio.Channel, service: str = "") -> int:
    stub = health_pb2_grpc.HealthStub(channel)
    response = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
    return int(response.status)


async def _eventually_status(channel: grpc.aio.Channel, wanted: int, service: str = "") -> None:
    for _ in range(200):
        if await _status(channel, service) == wanted:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"health of {service!r} never became {wanted}")


async def test_binds_port_zero_and_reads_it_back(make_server: MakeServer) -> None:
    server, _ = await make_server()
    assert server.port > 0
    assert server.address == f"127.0.0.1:{server.port}"
    assert server.metrics_port is None  # -1 = disabled
    async with grpc.aio.insecure_channel(server.address) as channel:
        assert await bytes_method(channel, "unary_unary", "Unary")(b"hello") == b"hello"


async def test_health_follows_readiness(make_server: MakeServer) -> None:
    state: dict[str, object] = {"ready": False}

    async def readiness() -> bool:
        if state["ready"] == "raise":
            raise ConnectionError("database down")
        return bool(state["ready"])

    server, _ = await make_server(readiness=readiness, readiness_interval_seconds=0.05)
    async with grpc.aio.insecure_channel(server.address) as channel:
        # Not ready at start: NOT_SERVING from the very first check.
        assert await _status(channel) == NOT_SERVING
        assert await _status(channel, PROBE_SERVICE) == NOT_SERVING

        state["ready"] = True
        await _eventually_status(channel, SERVING)
        await _eventually_status(channel, SERVING, PROBE_SERVICE)

        state["ready"] = "raise"  # a check that raises counts as not ready
        await _eventually_status(channel, NOT_SERVING)
        assert await _status(channel, PROBE_SERVICE) == NOT_SERVING

        state["ready"] = True
        await _eventually_status(channel, SERVING)


async def test_health_without_readiness_is_serving_and_unknown_service_not_found(
    make_server: MakeServer,
) -> None:
    server, _ = await make_server()
    async with grpc.aio.insecure_channel(server.address) as channel:
        assert await _status(channel) == SERVING
        assert await _status(channel, PROBE_SERVICE) == SERVING
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _status(channel, "no.such.Service")
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_reflection_lists_services(make_server: MakeServer) -> None:
    server, _ = await make_server()

    async def requests() -> AsyncIterator[reflection_pb2.ServerReflectionRequest]:
        yield reflection_pb2.ServerReflectionRequest(list_services="")

    async with grpc.aio.insecure_channel(server.address) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = [r async for r in stub.ServerReflectionInfo(requests())]
    names = {s.name for s in responses[0].list_services_response.service}
    assert names == {
        PROBE_SERVICE,
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    }


async def test_stop_drains_in_flight_calls_after_health_goes_not_serving(
    make_server: MakeServer,
) -> None:
    events: list[str] = []
    loop = asyncio.get_running_loop()

    async def close_pool() -> None:
        events.append("close_pool")

    async def close_bus() -> None:
        events.append("close_bus")

    server, probe = await make_server(on_shutdown=(close_pool, close_bus))
    async with grpc.aio.insecure_channel(server.address) as channel:
        # A watcher sees every health change, even after the server stops
        # accepting new calls (it is itself an in-flight call).
        watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest())
        assert (await watch.read()).status == SERVING

        slow = asyncio.ensure_future(bytes_method(channel, "unary_unary", "Unary")(b"slow:0.5"))
        await asyncio.wait_for(probe.slow_started.wait(), 5)

        stop = asyncio.create_task(server.stop(grace=1.5))
        update = await asyncio.wait_for(watch.read(), 5)
        assert update.status == NOT_SERVING
        assert not slow.done()  # health flipped while the call was still running
        events.append("not_serving")

        assert await slow == b"done"  # ...and the call was allowed to finish
        events.append("slow_done")
        await stop
        stopped_at = loop.time()
    assert events == ["not_serving", "slow_done", "close_pool", "close_bus"]
    assert probe.slow_finished[0] <= stopped_at
    await server.stop(1)  # a second stop is a no-op


async def test_new_calls_are_refused_once_stopping(make_server: MakeServer) -> None:
    server, probe = await make_server()
    async with grpc.aio.insecure_channel(server.address) as channel:
        slow = asyncio.ensure_future(bytes_method(channel, "unary_unary", "Unary")(b"slow:0.5"))
        await asyncio.wait_for(probe.slow_started.wait(), 5)
        stop = asyncio.create_task(server.stop(grace=2))
        await asyncio.sleep(0.1)
        async with grpc.aio.insecure_channel(server.address) as fresh:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await bytes_method(fresh, "unary_unary", "Unary")(b"x", timeout=1)
        assert caught.value.code() in (
            grpc.StatusCode.UNAVAILABLE,
            grpc.StatusCode.DEADLINE_EXCEEDED,
        )
        assert await slow == b"done"
        await stop


async def test_stop_twice_concurrently_runs_callbacks_once(make_server: MakeServer) -> None:
    calls: list[str] = []

    async def failing() -> None:
        calls.append("failing")
        raise RuntimeError("close failed")

    async def after() -> None:
        calls.append("after")

    server, _ = await make_server(on_shutdown=(failing, after))
    await asyncio.gather(server.stop(0.1), server.stop(0.1))
    assert calls == ["failing", "after"]  # one failure does not skip the rest


async def test_echo_service_round_trips_bytes() -> None:
    server = build_server(probe_settings(), register=register_echo, service_names=["e"])
    await server.start()
    try:
        async with grpc.aio.insecure_channel(server.address) as channel:
            echo = channel.unary_unary(ECHO_METHOD, None, None)
            payload = bytes(range(256)) * 4
            assert await echo(payload) == payload
    finally:
        await server.stop(0)


async def test_max_message_size_is_enforced() -> None:
    server = build_server(
        probe_settings(),
        register=register_echo,
        service_names=["e"],
        max_message_bytes=1024,
    )
    await server.start()
    try:
        async with grpc.aio.insecure_channel(server.address) as channel:
            echo = channel.unary_unary(ECHO_METHOD, None, None)
            assert await echo(b"x" * 512) == b"x" * 512
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await echo(b"x" * 4096)
            assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    finally:
        await server.stop(0)


async def test_cancelled_wait_for_termination_does_not_break_the_drain(
    make_server: MakeServer,
) -> None:
    server, probe = await make_server()
    waiter = asyncio.create_task(server.wait_for_termination())
    await asyncio.sleep(0.05)
    waiter.cancel()
    async with grpc.aio.insecure_channel(server.address) as channel:
        slow = asyncio.ensure_future(bytes_method(channel, "unary_unary", "Unary")(b"slow:0.3"))
        await asyncio.wait_for(probe.slow_started.wait(), 5)
        await server.stop(grace=5)
        assert await slow == b"done"


async def test_a_hanging_readiness_check_counts_as_not_ready(make_server: MakeServer) -> None:
    async def hangs() -> bool:
        await asyncio.sleep(3600)
        return True

    loop = asyncio.get_running_loop()
    started = loop.time()
    server, _ = await make_server(readiness=hangs, readiness_interval_seconds=0.05)
    assert loop.time() - started < 3  # start gave up on the check (1s budget)
    async with grpc.aio.insecure_channel(server.address) as channel:
        assert await _status(channel) == NOT_SERVING


async def test_a_port_in_use_is_an_error_not_a_shared_port(make_server: MakeServer) -> None:
    first, _ = await make_server()
    taken = dataclasses.replace(probe_settings(), grpc_port=first.port)
    second = build_server(taken, register=register_echo, service_names=["e"])
    with pytest.raises(RuntimeError, match=f"could not bind gRPC on 127.0.0.1:{first.port}"):
        await second.start()
    await second.stop(0)
