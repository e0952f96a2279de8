"""Run any grpc.aio method handler inside an async "guard" context manager.

Server interceptors in grpc.aio receive a method handler and must return one of
the same kind. There are four kinds (unary/stream request x unary/stream
response) and, for streaming responses, two handler styles: an async generator
that yields responses, or a coroutine that calls ``context.write`` and returns
None (grpc_health's ``Watch`` is one). This module handles all of them once, so
each interceptor only writes its guard: an async context manager entered before
the handler runs and exited when the call ends — normally, with an exception, or
with GeneratorExit/CancelledError when the client goes away.

Every wrapped streaming handler is an *async generator*, whatever the original
style, so every layer can iterate the one inside it with ``async for``. Only the
very outermost layer (:func:`writer_style`) turns the chain back into a
coroutine. :class:`HandlerCache` keeps each interceptor's wrapping to once per
method.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, aclosing
from typing import TYPE_CHECKING, Any

import grpc

# The context is typed Any: interceptors outside ours hand down proxies
# (OpenTelemetry wraps it), and grpc-stubs types it loosely anyway.
CallGuard = Callable[[Any], AbstractAsyncContextManager[None]]
Behavior = Callable[[Any, Any], Any]


def wrap_handler(handler: grpc.RpcMethodHandler[Any, Any] | None, guard: CallGuard) -> Any:
    """The same handler kind, with every call running inside ``guard(context)``."""
    if handler is None:  # unknown method: the server answers UNIMPLEMENTED
        return None
    h: Any = handler
    if h.response_streaming:
        if h.request_streaming:
            return grpc.stream_stream_rpc_method_handler(
                _streaming(h.stream_stream, guard),
                request_deserializer=h.request_deserializer,
                response_serializer=h.response_serializer,
            )
        return grpc.unary_stream_rpc_method_handler(
            _streaming(h.unary_stream, guard),
            request_deserializer=h.request_deserializer,
            response_serializer=h.response_serializer,
        )
    if h.request_streaming:
        return grpc.stream_unary_rpc_method_handler(
            _unary(h.stream_unary, guard),
            request_deserializer=h.request_deserializer,
            response_serializer=h.response_serializer,
        )
    return grpc.unary_unary_rpc_method_handler(
        _unary(h.unary_unary, guard),
        request_deserializer=h.request_deserializer,
        response_serializer=h.response_serializer,
    )


def _unary(behavior: Behavior, guard: CallGuard) -> Callable[[Any, Any], Any]:
    async def unary(request: Any, context: Any) -> Any:
        async with guard(context):
            result = behavior(request, context)
            if inspect.isawaitable(result):
                result = await result
            return result

    return unary


class _NoGuard:
    """A guard that does nothing: turns any streaming behavior into an async generator."""

    __slots__ = ()

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None


_NO_GUARD = _NoGuard()


def no_guard(context: Any) -> AbstractAsyncContextManager[None]:
    return _NO_GUARD


def as_async_generator(behavior: Behavior) -> Callable[[Any, Any], AsyncIterator[Any]]:
    """A streaming behavior of any style (async generator, writer coroutine, iterable) as an
    async generator, for interceptors that transform what goes in rather than guard it."""
    return _streaming(behavior, no_guard)


def _streaming(behavior: Behavior, guard: CallGuard) -> Callable[[Any, Any], AsyncIterator[Any]]:
    async def streaming(request: Any, context: Any) -> AsyncIterator[Any]:
        async with guard(context):
            result = behavior(request, context)
            if inspect.isawaitable(result):
                # Writer style: responses already went out through context.write.
                result = await result
            if result is None:
                return
            if inspect.isasyncgen(result):
                # aclosing: when the client cancels, the handler's own finally
                # blocks (cursors, subscriptions) run now, not at garbage collection.
                async with aclosing(result) as responses:
                    async for response in responses:
                        yield response
            elif hasattr(result, "__aiter__"):
                async for response in result:
                    yield response
            else:  # a plain iterable from a sync handler
                for response in result:
                    yield response

    return streaming


def writer_style(handler: grpc.RpcMethodHandler[Any, Any] | None) -> Any:
    """The handler with its response stream sent by a coroutine via ``context.write``.

    Why: when a client cancels a stream, grpc.aio cancels the call's task,
    usually while that task is inside grpc sending a message — *outside* the
    handler's generators, which stay suspended at ``yield``. They are then
    closed later by the event loop's async-generator finalizer, in another
    task with another ``contextvars`` context, and OpenTelemetry's stream
    wrapper fails to detach its context there, logging one ERROR per
    cancelled stream. Driving the chain from a coroutine puts the
    cancellation inside our code, which closes the generators at once, in
    the call's own task and context. Unary handlers are returned unchanged.
    """
    if handler is None:
        return None
    h: Any = handler
    if not h.response_streaming:
        return handler
    factory = (
        grpc.stream_stream_rpc_method_handler
        if h.request_streaming
        else grpc.unary_stream_rpc_method_handler
    )
    behavior = h.stream_stream if h.request_streaming else h.unary_stream
    return factory(
        _writer(behavior),
        request_deserializer=h.request_deserializer,
        response_serializer=h.response_serializer,
    )


def _writer(behavior: Behavior) -> Callable[[Any, Any], Any]:
    async def writer(request: Any, context: Any) -> None:
        result = behavior(request, context)
        if inspect.isawaitable(result):
            result = await result
        if result is None:
            return
        if inspect.isasyncgen(result):
            async with aclosing(result) as responses:
                async for response in responses:
                    await context.write(response)
        elif hasattr(result, "__aiter__"):
            async for response in result:
                await context.write(response)
        else:
            for response in result:
                await context.write(response)

    return writer


class HandlerCache:
    """One wrapped handler per method, rebuilt only if the inner handler changes.

    Interceptors see the same handler object on every call of a method, so
    their wrapping is done once. Only methods that exist
    are cached, so the cache is bounded by the registered services.
    """

    def __init__(self, wrap: Callable[[str, Any], Any]) -> None:
        self._wrap = wrap
        self._entries: dict[str, tuple[Any, Any]] = {}

    def get(self, method: str, handler: Any) -> Any:
        if handler is None:
            return None
        entry = self._entries.get(method)
        if entry is not None and entry[0] is handler:
            return entry[1]
        wrapped = self._wrap(method, handler)
        self._entries[method] = (handler, wrapped)
        return wrapped


Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[Any]]
if TYPE_CHECKING:
    ServerInterceptorBase = grpc.aio.ServerInterceptor[Any, Any]
else:  # not subscriptable at run time; only the stubs make it generic
    ServerInterceptorBase = grpc.aio.ServerInterceptor


class WrappingInterceptor(ServerInterceptorBase):
    """A server interceptor that wraps each method's handler once (:class:`HandlerCache`):
    subclasses say how, in ``_wrap(full_method, handler)``."""

    def __init__(self) -> None:
        self._cache = HandlerCache(self._wrap)

    def _wrap(self, full_method: str, handler: Any) -> Any:
        raise NotImplementedError

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Any:
        handler = await continuation(handler_call_details)
        return self._cache.get(handler_call_details.method, handler)
