"""A locust user for gRPC: sync channels whose every call fires a locust request event.

There is no maintained locust gRPC plugin, so this is the pattern of locust's own gRPC
example: synchronous grpcio channels (made cooperative by
`grpc.experimental.gevent.init_gevent()`, which the locustfile calls before any channel
exists) wrapped by a client interceptor that times each call and fires
`events.request`. The event's name is the call's operation (the scenario, see
operations.py) and its request type the RPC's full method name, so the stats CSV shows
both; any non-OK status is a failure, reported as `<CODE>: <details>` so that failures
group by cause instead of by the per-call debug string.

Unary-unary and stream-unary (UploadFile) calls are intercepted; the scenarios use no
server-streaming call.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import grpc
from locust import User
from locust.env import Environment
from locust.event import EventHook

from tests.load.access import sync_channel


class GrpcStatusError(Exception):
    """A failed call as locust records it: the status code and the server's details."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"{code.name}: {details}")
        self.code = code


class LocustInterceptor(
    grpc.UnaryUnaryClientInterceptor,  # type: ignore[type-arg]
    grpc.StreamUnaryClientInterceptor,  # type: ignore[type-arg]
):
    def __init__(
        self,
        request_event: EventHook,
        operations: Mapping[str, str],
        context: Callable[[], dict[str, Any]] = dict,
    ) -> None:
        self._fire = request_event.fire
        self._operations = operations  # full method -> operation; unlisted: the method
        self._context = context

    def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.ClientCallDetails, Any], Any],
        client_call_details: grpc.ClientCallDetails,
        request: Any,
    ) -> Any:
        return self._timed(continuation, client_call_details, request)

    def intercept_stream_unary(
        self,
        continuation: Callable[[grpc.ClientCallDetails, Any], Any],
        client_call_details: grpc.ClientCallDetails,
        request_iterator: Iterator[Any],
    ) -> Any:
        return self._timed(continuation, client_call_details, request_iterator)

    def _timed(
        self,
        continuation: Callable[[grpc.ClientCallDetails, Any], Any],
        details: grpc.ClientCallDetails,
        request: Any,
    ) -> Any:
        method = details.method
        if isinstance(method, bytes):
            method = method.decode()
        started = time.perf_counter()
        # A blocking call (the stub's __call__): the outcome is complete on return, an
        # error included (returned, not raised; the stub raises it to the caller).
        outcome = continuation(details, request)
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        exception: Exception | None = None
        length = 0
        failed = outcome.exception()
        if failed is None:
            length = outcome.result().ByteSize()
        elif isinstance(failed, grpc.Call):
            exception = GrpcStatusError(failed.code(), failed.details() or "")
        else:
            exception = GrpcStatusError(grpc.StatusCode.UNKNOWN, repr(failed))
        self._fire(  # type: ignore[no-untyped-call]  # locust's EventHook.fire is untyped
            request_type=method,
            name=self._operations.get(method, method),
            response_time=elapsed_ms,
            response_length=length,
            exception=exception,
            context={**self._context(), "method": method},
        )
        return outcome


class GrpcUser(User):
    """Base class: `self.channel(target)` gives an instrumented channel, closed on stop.

    A subclass sets `credentials` (TLS and the user's token, tests/load/access.py) before it
    opens channels to a secure stack; None is plaintext."""

    abstract = True
    # Full method -> operation name, for the request events (subclasses set it).
    operations: Mapping[str, str] = {}

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        self.credentials: grpc.ChannelCredentials | None = None
        self._channels: list[grpc.Channel] = []
        self._interceptor = LocustInterceptor(
            environment.events.request, self.operations, self.context
        )

    def channel(self, target: str) -> grpc.Channel:
        raw = sync_channel(target, self.credentials)
        self._channels.append(raw)
        return grpc.intercept_channel(raw, self._interceptor)

    def plain_channel(self, target: str) -> grpc.Channel:
        """A channel that reports nothing, for bookkeeping calls outside the scenarios."""
        raw = sync_channel(target, self.credentials)
        self._channels.append(raw)
        return raw

    def on_stop(self) -> None:
        for channel in self._channels:
            channel.close()
        self._channels.clear()
