"""Tracing: context across the bus headers and gRPC calls, span status, OTLP export."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from fundledger_platform.telemetry import (
    client_interceptors,
    extract_context,
    inject_headers,
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
    yield exporter
    exporter.shutdown()


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
