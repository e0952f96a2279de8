"""The bus against a real nats-server (JetStream), started for this module on free ports."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
from fundledger_devstack.nats import NatsServer
from fundledger_devstack.ports import free_port
from fundledger_platform.bus import bus_connected, connect_bus, ensure_stream, redact_url
from fundledger_platform.telemetry import extract_context, inject_headers, setup_telemetry, tracer
from nats.aio.client import Client
from nats.js.api import StorageType
from nats.js.errors import APIError
from opentelemetry import trace


@pytest.fixture
async def nc(nats_server: NatsServer) -> AsyncIterator[Client]:
    client = await connect_bus(nats_server.url, "platform-test")
    yield client
    await client.close()


async def test_connect_and_connected_flag(nats_server: NatsServer) -> None:
    client = await connect_bus(nats_server.url, "platform-test")
    assert bus_connected(client)
    await client.close()
    assert not bus_connected(client)


async def test_ensure_stream_creates_then_is_idempotent_then_updates(nc: Client) -> None:
    js = nc.jetstream()
    await ensure_stream(js, "PLATFORM_T1", ["platform.t1.>"], duplicate_window_seconds=120)
    await ensure_stream(js, "PLATFORM_T1", ["platform.t1.>"], duplicate_window_seconds=120)
    info = await js.stream_info("PLATFORM_T1")
    assert info.config.storage == StorageType.FILE
    assert info.config.subjects == ["platform.t1.>"]
    assert info.config.duplicate_window == 120

    await ensure_stream(
        js,
        "PLATFORM_T1",
        ["platform.t1.>", "platform.t1b.>"],
        duplicate_window_seconds=60,
        max_age_seconds=3600,
    )
    info = await js.stream_info("PLATFORM_T1")
    assert set(info.config.subjects or []) == {"platform.t1.>", "platform.t1b.>"}
    assert info.config.duplicate_window == 60
    assert info.config.max_age == 3600


async def test_ensure_stream_passes_the_configured_replicas(nc: Client) -> None:
    # A single server holds every stream once: replicas=1 is what it accepts. More than one
    # needs a JetStream cluster (the prod overlay's three NATS servers); here the setting is
    # shown to reach the server, and a count the server cannot meet to fail at start-up.
    js = nc.jetstream()
    await ensure_stream(js, "PLATFORM_T5", ["platform.t5.>"], replicas=1)
    assert (await js.stream_info("PLATFORM_T5")).config.num_replicas == 1
    with pytest.raises(APIError, match="replicas > 1 not supported"):
        await ensure_stream(js, "PLATFORM_T6", ["platform.t6.>"], replicas=3)
    for wrong in (0, 6):
        with pytest.raises(ValueError, match="replicas"):
            await ensure_stream(js, "PLATFORM_T5", ["platform.t5.>"], replicas=wrong)


async def test_concurrent_ensure_stream_calls_all_succeed(nc: Client) -> None:
    js = nc.jetstream()
    await asyncio.gather(*(ensure_stream(js, "PLATFORM_T2", ["platform.t2.>"]) for _ in range(5)))
    assert (await js.stream_info("PLATFORM_T2")).config.subjects == ["platform.t2.>"]


async def test_duplicate_window_drops_republished_message_ids(nc: Client) -> None:
    js = nc.jetstream()
    await ensure_stream(js, "PLATFORM_T3", ["platform.t3.>"])
    first = await js.publish("platform.t3.a", b"1", headers={"Nats-Msg-Id": "evt-1"})
    again = await js.publish("platform.t3.a", b"1", headers={"Nats-Msg-Id": "evt-1"})
    assert not first.duplicate
    assert again.duplicate
    assert again.seq == first.seq


async def test_trace_context_travels_in_message_headers(nc: Client) -> None:
    setup_telemetry("probe", None)
    js = nc.jetstream()
    await ensure_stream(js, "PLATFORM_T4", ["platform.t4.>"])
    with tracer("test").start_as_current_span("publish") as span:
        await js.publish(
            "platform.t4.a", b"event", headers=inject_headers({"Nats-Msg-Id": "evt-t4"})
        )
    subscription = await js.pull_subscribe("platform.t4.a", durable="t4")
    [msg] = await subscription.fetch(1, timeout=5)
    remote = trace.get_current_span(extract_context(msg.headers)).get_span_context()
    assert remote.trace_id == span.get_span_context().trace_id


async def test_reconnects_after_the_server_restarts(
    nats_server: NatsServer, caplog: pytest.LogCaptureFixture
) -> None:
    client = await connect_bus(nats_server.url, "platform-reconnect")
    try:
        with caplog.at_level(logging.INFO, logger="fundledger_platform.bus"):
            await asyncio.to_thread(nats_server.kill)
            for _ in range(200):
                if not bus_connected(client):
                    break
                await asyncio.sleep(0.02)
            assert not bus_connected(client)
            await asyncio.to_thread(nats_server.start)
            for _ in range(400):  # backoff is capped at 5s
                if bus_connected(client):
                    break
                await asyncio.sleep(0.05)
            assert bus_connected(client)
        messages = [r.getMessage() for r in caplog.records]
        assert "nats platform-reconnect: disconnected" in messages
        assert any(m.startswith("nats platform-reconnect: reconnected to") for m in messages)
        await client.flush(timeout=5)
    finally:
        await client.close()


async def test_first_connection_can_time_out() -> None:
    dead = f"nats://127.0.0.1:{free_port()}"
    with pytest.raises(TimeoutError):
        await connect_bus(dead, "platform-dead", initial_timeout_seconds=0.5)


def test_redact_url_drops_credentials_of_every_server() -> None:
    url = "nats://projector:s3cret@10.0.0.1:4222, tls://u:p@nats-2:4222,nats://plain:4222"
    assert redact_url(url) == "nats://10.0.0.1:4222,tls://nats-2:4222,nats://plain:4222"


async def test_replies_arrive_under_the_inbox_prefix(
    nats_server: NatsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FUNDLEDGER_NATS_INBOX_PREFIX", "_INBOX.platform-test")
    client = await connect_bus(nats_server.url, "platform-test")
    try:
        assert client.new_inbox().startswith("_INBOX.platform-test.")
    finally:
        await client.close()
