"""Tracing: context across the bus headers and gRPC calls, span status, OTLP export."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from fundledger_platform import telemetry
from fundledger_platform.telemetry import (
    TraceSampling,
    client_interceptors,
    extract_context,
    inject_headers,
    sample_ratio_from_env,
    set_trace_sample_ratio,
    setup_telemetry,
    tracer,
)
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from platform_probe import PROBE_SERVICE, MakeServer, bytes_method


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    setup_telemetry("probe", None)
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    # These tests look at the spans themselves: every trace is recorded (without an endpoint
    # the default records none that start here).
    set_trace_sample_ratio(1.0)
    yield exporter
    set_trace_sample_ratio(sample_ratio_from_env(None))
    exporter.shutdown()


@pytest.fixture
def sampled_at(spans: InMemorySpanExporter) -> Iterator[Any]:
    """Sets the ratio for one test (the spans fixture's 1.0 again afterwards)."""
    yield set_trace_sample_ratio
    set_trace_sample_ratio(1.0)


def test_setup_is_idempotent(spans: InMemorySpanExporter) -> None:
    provider = trace.get_tracer_provider()
    setup_telemetry("another-name", None)
    assert trace.get_tracer_provider() is provider


def test_inject_extract_round_trips_the_trace(spans: InMemorySpanExporter) -> None:
    with tracer("test").start_as_current_span("publish") as span:
        headers = inject_headers({"Nats-Msg-Id": "evt-1"})
    assert headers["Nats-Msg-Id"] == "evt-1"  # caller's headers kept
    assert headers["traceparent"].startswith("00-")
    context = extract_context(headers)
    remote = trace.get_current_span(context).get_span_context()
    assert remote.trace_id == span.get_span_context().trace_id
    assert remote.span_id == span.get_span_context().span_id
    assert remote.is_remote

    # A consumer span started under it joins the same trace.
    with tracer("test").start_as_current_span("consume", context=context) as child:
        assert child.get_span_context().trace_id == span.get_span_context().trace_id


def test_extract_ignores_header_case_and_handles_none(spans: InMemorySpanExporter) -> None:
    with tracer("test").start_as_current_span("publish") as span:
        headers = inject_headers()
    shouted = {key.title(): value for key, value in headers.items()}
    remote = trace.get_current_span(extract_context(shouted)).get_span_context()
    assert remote.trace_id == span.get_span_context().trace_id
    assert not trace.get_current_span(extract_context(None)).get_span_context().is_valid


def test_inject_outside_a_span_adds_no_traceparent(spans: InMemorySpanExporter) -> None:
    assert "traceparent" not in inject_headers()


async def test_trace_crosses_a_grpc_call(
    spans: InMemorySpanExporter, make_server: MakeServer
) -> None:
    server, _ = await make_server()
    async with grpc.aio.insecure_channel(
        server.address, interceptors=client_interceptors()
    ) as channel:
        with tracer("test").start_as_current_span("caller") as span:
            server_trace_id = await bytes_method(channel, "unary_unary", "Unary")(b"trace-id")
    assert server_trace_id.decode() == format(span.get_span_context().trace_id, "032x")


async def test_domain_error_marks_the_server_span(
    spans: InMemorySpanExporter, make_server: MakeServer
) -> None:
    server, _ = await make_server()
    spans.clear()
    async with grpc.aio.insecure_channel(server.address) as channel:
        with pytest.raises(grpc.aio.AioRpcError):
            await bytes_method(channel, "unary_unary", "Unary")(b"invalid")
        with pytest.raises(grpc.aio.AioRpcError):
            await bytes_method(channel, "unary_unary", "Unary")(b"boom")
    for _ in range(50):
        if len(spans.get_finished_spans()) >= 2:
            break
        await asyncio.sleep(0.02)
    by_kind = [s for s in spans.get_finished_spans() if s.kind == trace.SpanKind.SERVER]
    invalid, boom = by_kind[-2], by_kind[-1]
    assert invalid.name == f"/{PROBE_SERVICE}/Unary"
    assert invalid.attributes is not None
    assert invalid.attributes["rpc.grpc.status_code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert invalid.attributes["fundledger.error.reason"] == "FIELD_NEGATIVE"
    # A caller's mistake is not a server fault (OpenTelemetry RPC conventions).
    assert invalid.status.status_code == trace.StatusCode.UNSET
    assert boom.status.status_code == trace.StatusCode.ERROR


def _traceparent(flags: str) -> tuple[str, str]:
    return ("traceparent", f"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-{flags}")


async def _server_spans(spans: InMemorySpanExporter, before: int) -> list[Any]:
    # SimpleSpanProcessor exports as the span ends, which is after the client has its answer.
    for _ in range(20):
        await asyncio.sleep(0.02)
        if len(spans.get_finished_spans()) > before:
            break
    return [s for s in spans.get_finished_spans()[before:] if s.kind == trace.SpanKind.SERVER]


async def test_unsampled_calls_keep_their_trace_ids(
    spans: InMemorySpanExporter, sampled_at: Any, make_server: MakeServer
) -> None:
    server, _ = await make_server()
    sampled_at(0.0)
    before = len(spans.get_finished_spans())
    async with grpc.aio.insecure_channel(server.address) as channel:
        call = bytes_method(channel, "unary_unary", "Unary")
        # No trace context from the caller: a new trace, not recorded, but its ids exist
        # (logs and traceparent headers carry them).
        root = (await call(b"trace-id")).decode()
        # A caller that did not sample its trace: the server joins it and does not record.
        unsampled = (await call(b"trace-id", metadata=(_traceparent("00"),))).decode()
        # A caller that sampled it: recorded whatever the ratio (parent-based).
        sampled = (await call(b"trace-id", metadata=(_traceparent("01"),))).decode()
    assert int(root, 16) != 0
    assert unsampled == sampled == "0af7651916cd43dd8448eb211c80319c"
    [recorded] = await _server_spans(spans, before)
    assert format(recorded.context.trace_id, "032x") == sampled
    assert recorded.parent is not None
    assert recorded.parent.span_id == 0xB7AD6B7169203331


async def test_the_ratio_decides_for_new_traces(
    spans: InMemorySpanExporter, sampled_at: Any, make_server: MakeServer
) -> None:
    server, _ = await make_server()
    sampled_at(0.5)
    before = len(spans.get_finished_spans())
    async with grpc.aio.insecure_channel(server.address) as channel:
        call = bytes_method(channel, "unary_unary", "Unary")
        trace_ids = [int((await call(b"trace-id")).decode(), 16) for _ in range(40)]
    recorded = {s.context.trace_id for s in await _server_spans(spans, before)}
    # The SDK's ratio rule (the trace id's low 64 bits under the bound) picks which ones.
    bound = round(0.5 * 2**64)
    assert recorded == {t for t in trace_ids if t & (2**64 - 1) < bound}
    assert 0 < len(recorded) < len(trace_ids)


def test_sample_ratio_default_and_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FUNDLEDGER_TRACE_SAMPLE_RATIO", raising=False)
    assert sample_ratio_from_env(None) == 0.0  # nothing exported: nothing recorded
    assert sample_ratio_from_env("collector:4317") == 1.0  # exported: every trace
    monkeypatch.setenv("FUNDLEDGER_TRACE_SAMPLE_RATIO", "0.25")
    assert sample_ratio_from_env("collector:4317") == 0.25
    monkeypatch.setenv("FUNDLEDGER_TRACE_SAMPLE_RATIO", "1.5")
    with pytest.raises(ValueError, match="FUNDLEDGER_TRACE_SAMPLE_RATIO"):
        sample_ratio_from_env(None)
    with pytest.raises(ValueError, match="FUNDLEDGER_TRACE_SAMPLE_RATIO"):
        TraceSampling(-0.1)


def test_the_provider_samples_with_the_ratio_set_at_start() -> None:
    script = textwrap.dedent(
        """
        from opentelemetry import trace
        from fundledger_platform.telemetry import TraceSampling, setup_telemetry, tracer
        setup_telemetry("sampled", None)
        sampler = trace.get_tracer_provider().sampler
        assert isinstance(sampler, TraceSampling) and sampler.ratio == 0.25, sampler
        """
    )
    env = {**os.environ, "FUNDLEDGER_TRACE_SAMPLE_RATIO": "0.25"}
    subprocess.run([sys.executable, "-c", script], check=True, timeout=30, env=env)


def test_set_ratio_before_set_up_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(telemetry, "_sampling", None)
    with pytest.raises(RuntimeError, match="not set up"):
        set_trace_sample_ratio(0.5)


class _Collector(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self) -> None:
        self.requests: list[trace_service_pb2.ExportTraceServiceRequest] = []
        self.received = asyncio.Event()

    async def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: Any
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        self.requests.append(request)
        self.received.set()
        return trace_service_pb2.ExportTraceServiceResponse()


async def test_spans_are_exported_over_otlp_when_an_endpoint_is_set() -> None:
    # A fresh process: the provider of this one is already set (and cannot be replaced).
    collector = _Collector()
    server = grpc.aio.server()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(collector, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    script = textwrap.dedent(
        f"""
        from fundledger_platform.telemetry import setup_telemetry, shutdown_telemetry, tracer
        setup_telemetry("otlp-probe", "127.0.0.1:{port}")
        with tracer("test").start_as_current_span("exported-span"):
            pass
        shutdown_telemetry()
        """
    )
    try:
        process = await asyncio.create_subprocess_exec(sys.executable, "-c", script)
        assert await asyncio.wait_for(process.wait(), 30) == 0
        await asyncio.wait_for(collector.received.wait(), 5)
    finally:
        await server.stop(0)
    [resource_spans] = collector.requests[0].resource_spans
    attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
    assert attributes["service.name"] == "otlp-probe"
    names = [s.name for scope in resource_spans.scope_spans for s in scope.spans]
    assert names == ["exported-span"]


def test_no_endpoint_means_no_exporter() -> None:
    script = textwrap.dedent(
        """
        from opentelemetry import trace
        from fundledger_platform.telemetry import setup_telemetry
        setup_telemetry("quiet", None)
        provider = trace.get_tracer_provider()
        processors = provider._active_span_processor._span_processors
        assert processors == (), processors
        assert provider.resource.attributes["service.name"] == "quiet"
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=30)
