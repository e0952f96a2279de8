"""OpenTelemetry tracing: provider set-up, sampling, gRPC interceptors, bus propagation.

Traces cross two kinds of hops: gRPC calls (OpenTelemetry's grpc.aio
interceptors carry ``traceparent`` in call metadata) and the NATS bus, where
the publisher puts :func:`inject_headers` into the message headers and the
consumer starts its span under :func:`extract_context` of those headers.

Sampling (``FUNDLEDGER_TRACE_SAMPLE_RATIO``, :class:`TraceSampling`): a trace that starts here
is recorded with that probability; a span under a caller's context follows the caller's
decision (parent-based), so a trace sampled upstream stays whole. An unsampled span still has
ids: they reach the logs and travel on in ``traceparent`` (flag 00), so a log line still names
its trace. The default records every trace when spans are exported (an OTLP endpoint is set)
and none that start here when they are not: a recorded span nobody receives costs ~10–20 µs of
CPU per call for nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import grpc
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import (
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes

from fundledger_platform._wrapping import WrappingInterceptor, wrap_handler
from fundledger_platform.settings import env_float, env_name

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_provider: TracerProvider | None = None

# gRPC codes that mean the *server* failed; the others are the caller's doing
# and, per the OpenTelemetry RPC conventions, leave a server span's status unset.
_SERVER_FAULTS = frozenset(
    {
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)


SAMPLE_RATIO_SETTING = "TRACE_SAMPLE_RATIO"


def sample_ratio_from_env(otlp_endpoint: str | None) -> float:
    """``FUNDLEDGER_TRACE_SAMPLE_RATIO`` (0 to 1): the share of traces starting here that are
    recorded. Default 1 when spans are exported (an operator who set up a collector gets every
    trace, as before), 0 when they are not (nothing would receive them)."""
    return env_float(
        SAMPLE_RATIO_SETTING, 1.0 if otlp_endpoint else 0.0, min_value=0.0, max_value=1.0
    )


class TraceSampling(Sampler):
    """Parent-based ratio sampling whose ratio can be changed while the process runs.

    Tracers keep the sampler they were created with, so the ratio lives in this one object
    rather than in a sampler replaced on change (tests that inspect spans record them all).
    """

    def __init__(self, ratio: float) -> None:
        self.set_ratio(ratio)

    @property
    def ratio(self) -> float:
        return self._ratio

    def set_ratio(self, ratio: float) -> None:
        if not 0.0 <= ratio <= 1.0:
            raise ValueError(f"{env_name(SAMPLE_RATIO_SETTING)}: {ratio} is not within 0 to 1")
        self._ratio = ratio
        self._delegate = ParentBased(TraceIdRatioBased(ratio))

    def should_sample(
        self,
        parent_context: otel_context.Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        return self._delegate.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"TraceSampling{{{self._ratio}}}"


_sampling: TraceSampling | None = None


def set_trace_sample_ratio(ratio: float) -> None:
    """Change the share of new traces recorded (0 to 1) in a running process."""
    if _sampling is None:
        raise RuntimeError("telemetry is not set up")
    _sampling.set_ratio(ratio)


def setup_telemetry(
    service_name: str, otlp_endpoint: str | None, *, sample_ratio: float | None = None
) -> None:
    """Install the global TracerProvider once; later calls change nothing.

    OpenTelemetry refuses to replace a global provider, so a second call (a
    test building a second server) keeps the first set-up. Spans are exported
    only when an OTLP endpoint is given; without one they are still created
    (recorded only when sampled, see the module's docstring), so trace ids
    reach the logs and the bus headers. ``sample_ratio`` None: read from the
    environment (:func:`sample_ratio_from_env`).
    """
    global _provider, _sampling
    with _lock:
        if _provider is not None:
            return
        ratio = sample_ratio_from_env(otlp_endpoint) if sample_ratio is None else sample_ratio
        sampling = TraceSampling(ratio)
        provider = TracerProvider(
            sampler=sampling, resource=Resource.create({SERVICE_NAME: service_name})
        )
        if otlp_endpoint:
            # Imported here: the exporter pulls in protobuf and a gRPC channel,
            # which a process without an endpoint should not pay for.
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
                OTLPSpanExporter,
            )

            # A bare host:port means the plaintext collector of a local stack;
            # give a scheme (https://…) for TLS.
            endpoint = otlp_endpoint if "://" in otlp_endpoint else f"http://{otlp_endpoint}"
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
            logger.info("exporting traces to %s", endpoint)
        trace.set_tracer_provider(provider)
        _provider = provider
        _sampling = sampling
        if ratio < 1.0:
            logger.info("recording %g of the traces that start here", ratio)


def shutdown_telemetry(timeout_seconds: float = 5.0) -> None:
    """Flush spans still queued for export (called on graceful shutdown).

    Only a flush, not a provider shutdown: the provider is process-global and
    shuts itself down at interpreter exit, and another server in the same
    process (tests) may still be tracing.
    """
    provider = _provider
    if provider is not None and not provider.force_flush(int(timeout_seconds * 1000)):
        logger.warning("span export did not finish within %.1fs", timeout_seconds)


def tracer(name: str) -> trace.Tracer:
    return trace.get_tracer(name)


def server_interceptors() -> list[grpc.aio.ServerInterceptor[Any, Any]]:
    """One SERVER span per call, under the caller's trace context (``traceparent``)."""
    return [ServerTracingInterceptor()]


def client_interceptors() -> list[grpc.aio.ClientInterceptor]:
    """OpenTelemetry's grpc.aio client interceptors (one per call kind), for channels."""
    from opentelemetry.instrumentation.grpc import aio_client_interceptors

    interceptors: list[grpc.aio.ClientInterceptor] = list(aio_client_interceptors())  # type: ignore[no-untyped-call]
    return interceptors


def inject_headers(headers: dict[str, str] | None = None) -> dict[str, str]:
    """``headers`` (or a new dict) plus the current trace context (W3C ``traceparent``)."""
    carrier: dict[str, str] = {} if headers is None else headers
    propagate.inject(carrier)
    return carrier


def extract_context(headers: Mapping[str, str] | None) -> otel_context.Context:
    """The trace context carried by message headers, to start a consumer span under.

    Keys are matched case-insensitively: NATS keeps header case as sent, and a
    publisher outside Python may well write ``Traceparent``.
    """
    carrier = {key.lower(): value for key, value in (headers or {}).items()}
    return propagate.extract(carrier)


def record_rpc_status(
    code: grpc.StatusCode, description: str, attributes: Mapping[str, str] | None = None
) -> None:
    """Put a call's final status on the current server span.

    OpenTelemetry's aio interceptor sees ``context.abort`` but not
    ``abort_with_status``, which is how domain errors leave; without this the
    span of a failed call would say OK.
    """
    span = trace.get_current_span()
    if not span.is_recording():
        return
    span.set_attribute("rpc.grpc.status_code", code.value[0])
    for key, value in (attributes or {}).items():
        span.set_attribute(key, value)
    if code in _SERVER_FAULTS:
        span.set_status(Status(StatusCode.ERROR, f"{code.name}: {description}"))


# -- Server spans ----------------------------------------------------------------------------------
#
# What OpenTelemetry's grpc.aio server interceptor does, at a fraction of its cost per call (it
# builds a new method handler, a context proxy and generator-based context managers on every
# call, and parses the peer address): the wrapped handler is built once per method, the span is
# started and made current with plain calls, and the final status is read from the call's
# context when it ends. Same span: named after the full method, kind SERVER, the
# ``rpc.system``/``rpc.service``/``rpc.method`` attributes and ``rpc.grpc.status_code``, status
# ERROR for the codes that mean the server failed (UNSET otherwise), exceptions recorded.


class ServerTracingInterceptor(WrappingInterceptor):
    def __init__(self) -> None:
        self._tracer = trace.get_tracer("fundledger_platform.grpc_server")
        # The headers the propagators read (set when this process configured them, at start).
        self._fields = frozenset(propagate.get_global_textmap().fields)
        super().__init__()

    def _wrap(self, method: str, handler: Any) -> Any:
        service, _, name = method.lstrip("/").partition("/")
        attributes = {
            "rpc.system": "grpc",
            "rpc.service": service,
            "rpc.method": name,
            "rpc.grpc.status_code": grpc.StatusCode.OK.value[0],
        }
        tracer, fields = self._tracer, self._fields
        return wrap_handler(
            handler, lambda context: _ServerSpan(tracer, method, attributes, fields, context)
        )


# The parent of a call that brings no trace context: a new trace (not the server task's context).
_NO_PARENT = otel_context.Context()


def _parent_context(context: Any, fields: frozenset[str]) -> otel_context.Context:
    """The caller's trace context from the call's metadata. A call with none of the
    propagators' headers (``fields``: traceparent, tracestate, baggage) skips them (a dict of
    every header, then each propagator's parse): most calls from outside bring none."""
    metadata = context.invocation_metadata()
    if not metadata:
        return _NO_PARENT
    for item in metadata:
        if item[0] in fields:
            break
    else:
        return _NO_PARENT
    return propagate.extract({item[0]: item[1] for item in metadata if isinstance(item[1], str)})


class _ServerSpan:
    __slots__ = ("_attributes", "_context", "_fields", "_method", "_span", "_token", "_tracer")

    def __init__(
        self,
        tracer: trace.Tracer,
        method: str,
        attributes: dict[str, Any],
        fields: frozenset[str],
        context: Any,
    ) -> None:
        self._tracer = tracer
        self._fields = fields
        self._method = method
        self._attributes = attributes
        self._context = context
        self._span: trace.Span | None = None
        self._token: object = None

    async def __aenter__(self) -> None:
        parent = _parent_context(self._context, self._fields)
        span = self._tracer.start_span(
            self._method,
            context=parent,
            kind=trace.SpanKind.SERVER,
            attributes=self._attributes,
        )
        self._span = span
        self._token = otel_context.attach(trace.set_span_in_context(span, parent))

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: Any
    ) -> None:
        span = self._span
        if span is None:
            return
        try:
            if span.is_recording():
                self._finish(span, exc)
        finally:
            span.end()
            otel_context.detach(self._token)  # type: ignore[arg-type]

    def _finish(self, span: trace.Span, exc: BaseException | None) -> None:
        if exc is not None and not isinstance(
            exc, grpc.aio.AbortError | asyncio.CancelledError | GeneratorExit
        ):
            # An exception no interceptor inside turned into a status: the caller gets UNKNOWN.
            span.record_exception(exc)
            span.set_attribute("rpc.grpc.status_code", grpc.StatusCode.UNKNOWN.value[0])
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
            return
        try:
            code = self._context.code()
        except Exception:  # a context proxy without it
            code = None
        if not isinstance(code, grpc.StatusCode) or code == grpc.StatusCode.OK:
            return
        span.set_attribute("rpc.grpc.status_code", code.value[0])
        if code in _SERVER_FAULTS:
            details = ""
            with contextlib.suppress(Exception):
                details = self._context.details() or ""
            if isinstance(details, bytes):
                details = details.decode("utf-8", "replace")
            span.set_status(Status(StatusCode.ERROR, f"{code}:{details}"))
