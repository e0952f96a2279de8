"""Domain errors reach a real grpc.aio client as rich statuses, for every handler kind."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import asyncpg
import grpc
import pytest
from fundledger_platform.db import connection_lost
from fundledger_platform.errors import ERROR_DOMAIN, bad_request, error_info
from fundledger_platform.interceptors import INTERNAL_MESSAGE
from fundledger_platform.server import ServiceServer
from platform_probe import SECRET, MakeServer, Probe, bytes_method, drain


async def _requests(*items: bytes) -> AsyncIterator[bytes]:
    for item in items:
        yield item


async def test_unary_invalid_argument_carries_error_info_and_bad_request(
    channel: grpc.aio.Channel,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await bytes_method(channel, "unary_unary", "Unary")(b"invalid")
    err = caught.value
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.details() == "amount must be positive"
    info = error_info(err)
    assert info is not None
    assert info.reason == "FIELD_NEGATIVE"
    assert info.domain == ERROR_DOMAIN
    assert dict(info.metadata) == {"company": "acme", "field": "proposed[0].amount_cents"}
    request = bad_request(err)
    assert request is not None
    [violation] = request.field_violations
    assert violation.field == "proposed[0].amount_cents"
    assert violation.description == "amount must be positive"


async def test_unary_aborted_without_field_has_no_bad_request(channel: grpc.aio.Channel) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await bytes_method(channel, "unary_unary", "Unary")(b"aborted")
    err = caught.value
    assert err.code() == grpc.StatusCode.ABORTED
    info = error_info(err)
    assert info is not None
    assert info.reason == "WRONG_EXPECTED_VERSION"
    assert dict(info.metadata) == {"actualVersion": "7"}
    assert bad_request(err) is None


async def test_server_stream_error_after_messages(channel: grpc.aio.Channel) -> None:
    call = bytes_method(channel, "unary_stream", "ServerStream")(b"invalid")
    received, err = await drain(call)
    assert err is not None
    assert received == [b"item-0", b"item-1", b"item-2"]  # streaming kept streaming
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    info = error_info(err)
    assert info is not None
    assert info.reason == "INVALID_PAGE_TOKEN"
    assert info.domain == ERROR_DOMAIN
    request = bad_request(err)
    assert request is not None
    assert request.field_violations[0].field == "from_position"


async def test_writer_style_stream_error(channel: grpc.aio.Channel) -> None:
    call = bytes_method(channel, "unary_stream", "WriterStream")(b"invalid")
    received, err = await drain(call)
    assert err is not None
    assert received == [b"written"]
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_info(err) is not None


async def test_client_stream_not_found(channel: grpc.aio.Channel) -> None:
    method = bytes_method(channel, "stream_unary", "ClientStream")
    assert await method(_requests(b"a", b"b")) == b"a,b"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await method(_requests(b"a", b"missing"))
    err = caught.value
    assert err.code() == grpc.StatusCode.NOT_FOUND
    info = error_info(err)
    assert info is not None
    assert info.reason == "STREAM_NOT_FOUND"
    assert dict(info.metadata) == {"id": "s-1"}


async def test_bidi_stream_error(channel: grpc.aio.Channel) -> None:
    call = bytes_method(channel, "stream_stream", "Bidi")(_requests(b"a", b"invalid"))
    received, err = await drain(call)
    assert err is not None
    assert received == [b"A"]
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    request = bad_request(err)
    assert request is not None
    assert request.field_violations[0].field == "events[1]"


@pytest.mark.parametrize(
    ("kind", "name", "request_value"),
    [
        ("unary_unary", "Unary", b"boom"),
        ("unary_stream", "ServerStream", b"boom"),
        ("stream_stream", "Bidi", None),
    ],
)
async def test_unexpected_exception_is_internal_with_generic_message(
    channel: grpc.aio.Channel,
    caplog: pytest.LogCaptureFixture,
    kind: str,
    name: str,
    request_value: bytes | None,
) -> None:
    method = bytes_method(channel, kind, name)
    argument = _requests(b"boom") if request_value is None else request_value
    with caplog.at_level(logging.ERROR):
        if kind == "unary_unary":
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await method(argument)
            err: grpc.aio.AioRpcError | None = caught.value
        else:
            _, err = await drain(method(argument))
    assert err is not None
    assert err.code() == grpc.StatusCode.INTERNAL
    assert err.details() == INTERNAL_MESSAGE
    assert SECRET not in (err.details() or "")
    assert SECRET not in (err.debug_error_string() or "")
    assert error_info(err) is None
    # ...but the operator gets the whole story, traceback included.
    [record] = [r for r in caplog.records if r.name == "fundledger_platform.interceptors"]
    assert record.exc_info is not None
    assert SECRET in str(record.exc_info[1])


async def test_cancelled_stream_logs_nothing_and_closes_the_handler(
    probe_server: tuple[ServiceServer, Probe],
    channel: grpc.aio.Channel,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, probe = probe_server
    method = bytes_method(channel, "unary_stream", "ServerStream")
    with caplog.at_level(logging.WARNING):
        for _ in range(10):
            call = method(b"forever")
            count = 0
            async for _item in call:
                count += 1
                if count == 20:
                    break
            call.cancel()
        for _ in range(100):  # the server notices the cancellations asynchronously
            if probe.streams_closed == 10:
                break
            await asyncio.sleep(0.02)
    assert probe.streams_closed == 10  # handlers' finally blocks ran, without waiting for GC
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_unknown_method_is_unimplemented(channel: grpc.aio.Channel) -> None:
    method = channel.unary_unary("/fundledger.test.v1.Probe/Nope", None, None)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await method(b"")
    err = caught.value
    assert err.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_error_info_is_none_for_a_plain_status(make_server: MakeServer) -> None:
    server, _ = await make_server()
    async with grpc.aio.insecure_channel(server.address) as ch:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await ch.unary_unary("/nope.Nope/Nope", None, None)(b"")
        err = caught.value
    assert error_info(err) is None
    assert bad_request(err) is None


async def test_a_lost_database_connection_is_unavailable_to_retry(
    channel: grpc.aio.Channel,
) -> None:
    """A PostgreSQL restart or failover under a call: UNAVAILABLE DATABASE_UNAVAILABLE (retry),
    never INTERNAL, in every service (one mapping in the interceptor)."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await bytes_method(channel, "unary_unary", "Unary")(b"db-gone")
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    info = error_info(caught.value)
    assert info is not None
    assert info.reason == "DATABASE_UNAVAILABLE"


RELEASED = "connection has been released back to the pool"
BUSY = "another operation is in progress"


@pytest.mark.parametrize(
    ("err", "lost"),
    [
        (asyncpg.ConnectionDoesNotExistError("closed in the middle"), True),
        (asyncpg.CannotConnectNowError("the database system is starting up"), True),
        (asyncpg.AdminShutdownError("terminating connection"), True),
        (asyncpg.InterfaceError(f"cannot call Connection.fetch(): {RELEASED}"), True),
        (asyncpg.InterfaceError("connection is closed"), True),
        (ConnectionRefusedError(111, "refused"), True),
        (asyncpg.exceptions.TargetServerAttributeNotMatched("no host is read-write"), True),
        (asyncpg.ReadOnlySQLTransactionError("cannot execute INSERT in a read-only txn"), True),
        (asyncpg.InterfaceError(f"cannot perform operation: {BUSY}"), False),
        (asyncpg.UniqueViolationError("duplicate key"), False),
        (asyncpg.QueryCanceledError("canceling statement due to statement timeout"), False),
        (RuntimeError("boom"), False),
    ],
)
def test_which_errors_mean_the_connection_is_gone(err: BaseException, lost: bool) -> None:
    assert connection_lost(err) is lost
