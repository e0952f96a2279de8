"""Server interceptors: domain errors -> google.rpc.Status, and call metrics.

Servicers never call ``context.abort`` for a domain failure: they raise a
:class:`~fundledger_platform.errors.DomainError` and :class:`ErrorMappingInterceptor`
aborts with its rich status. Anything else that escapes a servicer is a bug:
it is logged with its traceback and the caller gets INTERNAL with a generic
message, so no SQL, path or stack detail leaks out.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import grpc
from prometheus_client import Counter, Histogram

from fundledger_platform._wrapping import wrap_handler, writer_style
from fundledger_platform.errors import DomainError, to_status
from fundledger_platform.telemetry import record_rpc_status

if TYPE_CHECKING:
    _ServerInterceptor = grpc.aio.ServerInterceptor[Any, Any]
    Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]]
else:  # not subscriptable at run time; only the stubs make them generic
    _ServerInterceptor = grpc.aio.ServerInterceptor

logger = logging.getLogger(__name__)

INTERNAL_MESSAGE = "internal error"

HANDLED = Counter(
    "fundledger_grpc_server_handled_total",
    "gRPC calls completed on the server, by final status code.",
    ["service", "method", "code"],
)
HANDLING_SECONDS = Histogram(
    "fundledger_grpc_server_handling_seconds",
    "Time from the handler's start to the call's end (whole stream for streaming calls).",
    ["service", "method"],
)


def split_method(full_method: str) -> tuple[str, str]:
    """``/pkg.Service/Method`` -> (``pkg.Service``, ``Method``)."""
    service, _, method = full_method.lstrip("/").partition("/")
    return service, method


class ErrorMappingInterceptor(_ServerInterceptor):
    """DomainError -> abort_with_status(to_status(err)); other exceptions -> INTERNAL."""

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Any:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        return wrap_handler(handler, lambda context: _map_errors(context, method))


@asynccontextmanager
async def _map_errors(context: Any, method: str) -> AsyncIterator[None]:
    try:
        yield
    except DomainError as err:
        record_rpc_status(err.code, err.message, {"fundledger.error.reason": err.reason})
        await context.abort_with_status(to_status(err))
    except grpc.aio.AbortError:
        # The handler (or grpc_health's Check) already sent its status.
        raise
    except Exception:
        if context.cancelled():
            # The caller left and the handler tripped over it on the way out:
            # nothing to report to anyone.
            raise
        logger.exception("unhandled exception in %s", method, extra={"grpc_method": method})
        await context.abort(grpc.StatusCode.INTERNAL, INTERNAL_MESSAGE)


class MetricsInterceptor(_ServerInterceptor):
    """Counts calls by final code and times them (Prometheus)."""

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Any:
        handler = await continuation(handler_call_details)
        service, method = split_method(handler_call_details.method)
        return wrap_handler(handler, lambda context: _measure(context, service, method))


@asynccontextmanager
async def _measure(context: Any, service: str, method: str) -> AsyncIterator[None]:
    started = time.perf_counter()
    code = grpc.StatusCode.UNKNOWN
    try:
        yield
        # A handler may set a code without raising (context.set_code).
        code = context.code() or grpc.StatusCode.OK
    except grpc.aio.AbortError:
        code = context.code() or grpc.StatusCode.UNKNOWN
        raise
    except (asyncio.CancelledError, GeneratorExit):
        # grpc.aio cancels the handler both when the client cancels and when
        # the deadline passes; the remaining time tells the two apart.
        code = (
            grpc.StatusCode.DEADLINE_EXCEEDED
            if _deadline_passed(context)
            else grpc.StatusCode.CANCELLED
        )
        raise
    except DomainError as err:  # only when no ErrorMappingInterceptor sits inside
        code = err.code
        raise
    finally:
        HANDLED.labels(service, method, code.name).inc()
        HANDLING_SECONDS.labels(service, method).observe(time.perf_counter() - started)


def _deadline_passed(context: Any) -> bool:
    try:
        remaining = context.time_remaining()
    except Exception:  # some context proxies do not offer it
        return False
    return remaining is not None and remaining <= 0


class StreamClosingInterceptor(_ServerInterceptor):
    """Outermost: closes response streams in the call's own task when it is cancelled.

    Must come first in the server's interceptor list; see
    :func:`fundledger_platform._wrapping.writer_style` for why.
    """

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Any:
        return writer_style(await continuation(handler_call_details))
