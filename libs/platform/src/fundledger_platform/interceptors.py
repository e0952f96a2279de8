"""Server interceptors: domain errors -> google.rpc.Status, call metrics, stream closing.

Servicers never call ``context.abort`` for a domain failure: they raise a
:class:`~fundledger_platform.errors.DomainError` and :class:`ErrorMappingInterceptor`
aborts with its rich status. Anything else that escapes a servicer is a bug:
it is logged with its traceback and the caller gets INTERNAL with a generic
message, so no SQL, path or stack detail leaks out.

These run on every call, so the wrapped handler is built once per method
(:class:`HandlerCache`) and the guards are plain classes, not generator-based
context managers.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any

import grpc
from fundledger_kernel.fund.proto import StateRangeError
from prometheus_client import Counter, Histogram

from fundledger_platform._wrapping import (
    CallGuard,
    Continuation,
    ServerInterceptorBase,
    WrappingInterceptor,
    as_async_generator,
    wrap_handler,
    writer_style,
)
from fundledger_platform.db import connection_lost
from fundledger_platform.errors import DomainError, FailedPrecondition, Unavailable, to_status
from fundledger_platform.fields import malformed
from fundledger_platform.reasons import Reason
from fundledger_platform.telemetry import record_rpc_status

logger = logging.getLogger(__name__)

INTERNAL_MESSAGE = "internal error"

HANDLED = Counter(
    "fundledger_grpc_server_handled_total",
    "gRPC calls completed on the server, by final status code.",
    ["service", "method", "code"],
)
# Bucket bounds sit exactly on the latency gates the alert rules use (50, 100,
# 200, 500 ms; deploy/observability/prometheus-rules.yaml), so "p95 above the
# gate" is decided by counts, not by histogram_quantile interpolating across a
# wide bucket. Finer below 50 ms, where the services normally answer.
HANDLING_SECONDS_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.15,
    0.2,
    0.3,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)
HANDLING_SECONDS = Histogram(
    "fundledger_grpc_server_handling_seconds",
    "Time from the handler's start to the call's end (whole stream for streaming calls).",
    ["service", "method"],
    buckets=HANDLING_SECONDS_BUCKETS,
)


def split_method(full_method: str) -> tuple[str, str]:
    """``/pkg.Service/Method`` -> (``pkg.Service``, ``Method``)."""
    service, _, method = full_method.lstrip("/").partition("/")
    return service, method


class ErrorMappingInterceptor(WrappingInterceptor):
    """DomainError -> abort_with_status(to_status(err)); other exceptions -> INTERNAL."""

    def __init__(self) -> None:
        super().__init__()

    @staticmethod
    def _wrap(method: str, handler: Any) -> Any:
        guard: CallGuard = lambda context: _MapErrors(context, method)  # noqa: E731
        return wrap_handler(handler, guard)


class _MapErrors:
    __slots__ = ("_context", "_method")

    def __init__(self, context: Any, method: str) -> None:
        self._context = context
        self._method = method

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # Each branch that aborts raises grpc.aio.AbortError, which replaces
        # the handler's exception on its way to the server.
        if exc is None or isinstance(exc, grpc.aio.AbortError):
            return  # success, or the handler (grpc_health's Check) sent a status itself
        if isinstance(exc, StateRangeError):
            exc = _out_of_range(exc)
        elif isinstance(exc, Exception) and connection_lost(exc):
            exc = _database_unavailable(exc)
        if isinstance(exc, DomainError):
            record_rpc_status(exc.code, exc.message, {"fundledger.error.reason": exc.reason})
            await self._context.abort_with_status(to_status(exc))
        if not isinstance(exc, Exception):
            return  # CancelledError, GeneratorExit: the caller left
        if self._context.cancelled():
            # The caller left and the handler tripped over it on the way out:
            # nothing to report to anyone.
            return
        logger.error(
            "unhandled exception in %s",
            self._method,
            exc_info=(type(exc), exc, traceback),
            extra={"grpc_method": self._method},
        )
        await self._context.abort(grpc.StatusCode.INTERNAL, INTERNAL_MESSAGE)


def _database_unavailable(err: Exception) -> DomainError:
    # A PostgreSQL restart or failover under a call is the caller's to retry, not a bug: every
    # service maps it the same way here (the connection itself is replaced by the pool).
    logger.warning("database connection lost: %s", type(err).__name__)
    return Unavailable(
        "the service's database is unavailable; retry", reason=Reason.DATABASE_UNAVAILABLE
    )


def _out_of_range(err: StateRangeError) -> DomainError:
    # A fund whose sums or ratios no longer fit the wire's int64 (appends are bounded, but
    # enough of them still add up): the caller learns which figure, not an INTERNAL.
    return FailedPrecondition(
        f"the fund state cannot be returned: {err}",
        reason=Reason.FUND_STATE_OUT_OF_RANGE,
    )


class MetricsInterceptor(WrappingInterceptor):
    """Counts calls by final code and times them (Prometheus)."""

    def __init__(self) -> None:
        super().__init__()

    @staticmethod
    def _wrap(full_method: str, handler: Any) -> Any:
        stats = _MethodStats(*split_method(full_method))
        guard: CallGuard = lambda context: _Measure(context, stats)  # noqa: E731
        return wrap_handler(handler, guard)


class _MethodStats:
    """One method's metric children, looked up once instead of on every call."""

    def __init__(self, service: str, method: str) -> None:
        self._service = service
        self._method = method
        self.seconds = HANDLING_SECONDS.labels(service, method)
        self._handled: dict[grpc.StatusCode, Any] = {}

    def handled(self, code: grpc.StatusCode) -> Any:
        child = self._handled.get(code)
        if child is None:
            child = self._handled[code] = HANDLED.labels(self._service, self._method, code.name)
        return child


class _Measure:
    __slots__ = ("_context", "_started", "_stats")

    def __init__(self, context: Any, stats: _MethodStats) -> None:
        self._context = context
        self._stats = stats
        self._started = 0.0

    async def __aenter__(self) -> None:
        self._started = time.perf_counter()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        code = _final_code(self._context, exc)
        self._stats.handled(code).inc()
        self._stats.seconds.observe(time.perf_counter() - self._started)


def _final_code(context: Any, exc: BaseException | None) -> grpc.StatusCode:
    if exc is None:
        # A handler may set a code without raising (context.set_code).
        code: grpc.StatusCode | None = context.code()
        return code or grpc.StatusCode.OK
    if isinstance(exc, grpc.aio.AbortError):
        return context.code() or grpc.StatusCode.UNKNOWN
    if isinstance(exc, asyncio.CancelledError | GeneratorExit):
        # grpc.aio cancels the handler both when the client cancels and when
        # the deadline passes; the remaining time tells the two apart.
        return (
            grpc.StatusCode.DEADLINE_EXCEEDED
            if _deadline_passed(context)
            else grpc.StatusCode.CANCELLED
        )
    if isinstance(exc, DomainError):  # only when no ErrorMappingInterceptor sits inside
        return exc.code
    return grpc.StatusCode.UNKNOWN


def _deadline_passed(context: Any) -> bool:
    try:
        remaining = context.time_remaining()
    except Exception:  # some context proxies do not offer it
        return False
    return remaining is not None and remaining <= 0


class StreamClosingInterceptor(ServerInterceptorBase):
    """Outermost: closes response streams in the call's own task when it is cancelled.

    Must come first in the server's interceptor list; see
    :func:`fundledger_platform._wrapping.writer_style` for why.
    """

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Any:
        return writer_style(await continuation(handler_call_details))


class RequestDecodingInterceptor(WrappingInterceptor):
    """Innermost: a request grpc cannot decode becomes INVALID_ARGUMENT FIELD_MALFORMED.

    grpc decodes each request message with the method's deserializer *before* any handler or
    interceptor runs, and a failure there (a string field holding invalid UTF-8, bytes that are
    not protobuf) would end the call UNKNOWN, outside our error mapping. So the deserializer is
    swapped for one that returns a marker instead of raising, and the marker is turned into a
    DomainError where the request reaches the servicer. Innermost, so that authentication and
    authorization decide first: an unauthenticated caller learns nothing about its bytes.
    """

    def __init__(self) -> None:
        super().__init__()

    @staticmethod
    def _wrap(full_method: str, handler: Any) -> Any:
        h: Any = handler
        decode = h.request_deserializer
        if decode is None:
            return handler
        name = split_method(full_method)[1]
        tolerant = _tolerant(decode)
        behavior = _checked(h, name)
        if h.response_streaming:
            factory = (
                grpc.stream_stream_rpc_method_handler
                if h.request_streaming
                else grpc.unary_stream_rpc_method_handler
            )
        else:
            factory = (
                grpc.stream_unary_rpc_method_handler
                if h.request_streaming
                else grpc.unary_unary_rpc_method_handler
            )
        return factory(
            behavior,
            request_deserializer=tolerant,
            response_serializer=h.response_serializer,
        )


class _Undecodable:
    """What the tolerant deserializer returns for bytes the real one refused."""

    __slots__ = ()


_UNDECODABLE = _Undecodable()


def _tolerant(decode: Any) -> Any:
    def deserialize(data: bytes) -> Any:
        try:
            return decode(data)
        except Exception:  # DecodeError today; whatever a deserializer raises means the same
            return _UNDECODABLE

    return deserialize


def _refusal(method: str) -> DomainError:
    return malformed(
        "request",
        f"{method} request is not a valid message"
        " (a string field holding invalid UTF-8, or bytes that are not protobuf)",
    )


def _checked(h: Any, method: str) -> Any:
    # grpc.aio runs a handler in a thread pool unless it is a coroutine function (unary
    # response) or an async generator function (streaming response), so both shapes are kept.
    if h.response_streaming:
        inner = h.stream_stream if h.request_streaming else h.unary_stream

        def streaming(request: Any, context: Any) -> Any:
            return inner(_checked_request(request, h.request_streaming, method), context)

        return as_async_generator(streaming)
    inner = h.stream_unary if h.request_streaming else h.unary_unary

    async def unary(request: Any, context: Any) -> Any:
        result = inner(_checked_request(request, h.request_streaming, method), context)
        return await result if inspect.isawaitable(result) else result

    return unary


def _checked_request(request: Any, streaming: bool, method: str) -> Any:
    if streaming:
        return _checked_stream(request, method)
    if request is _UNDECODABLE:
        raise _refusal(method)
    return request


async def _checked_stream(requests: Any, method: str) -> AsyncIterator[Any]:
    async for request in requests:
        if request is _UNDECODABLE:
            raise _refusal(method)
        yield request
