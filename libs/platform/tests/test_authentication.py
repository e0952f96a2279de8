"""Authentication on a real server (the probe service, all four RPC kinds, built by build_server
with authentication on), real tokens from the dev issuer, forged ones made like an attacker would.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc
import pytest
from fundledger_devstack.dev_issuer import DevIssuer
from fundledger_platform.auth.client import TokenSource, bearer_interceptors
from fundledger_platform.errors import error_info
from fundledger_platform.logs import json_formatter
from fundledger_platform.server import ServiceServer, build_server
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from platform_probe import PROBE_SERVICE, Probe, bytes_method, drain, probe_settings
from prometheus_client import REGISTRY

from tests.support.auth import BadTokens, auth_settings, bad_tokens, bearer, token_parts
from tests.support.waiting import wait_until

AUDIENCE = "fundledger-probe"
ALICE = b"person:alice:acme:analyst,fund-manager"

# name -> (multi-callable kind, probe method)
KINDS = {
    "unary": ("unary_unary", "Unary"),
    "server_stream": ("unary_stream", "ServerStream"),
    "writer_stream": ("unary_stream", "WriterStream"),
    "client_stream": ("stream_unary", "ClientStream"),
    "bidi": ("stream_stream", "Bidi"),
}

Start = Callable[..., Awaitable[tuple[ServiceServer, Probe]]]


@pytest.fixture
def issuer(tmp_path: Path) -> DevIssuer:
    return DevIssuer(tmp_path / "issuer")


@pytest.fixture
def forged(tmp_path: Path, issuer: DevIssuer) -> BadTokens:
    return bad_tokens(tmp_path, AUDIENCE, issuer)


@pytest.fixture
async def start(issuer: DevIssuer) -> AsyncIterator[Start]:
    """Probe servers with authentication on (trusting ``issuer``), stopped after the test."""
    started: list[ServiceServer] = []

    async def make(*, reflection: bool = True) -> tuple[ServiceServer, Probe]:
        probe = Probe()
        settings = replace(
            probe_settings(),
            log_level="DEBUG",  # every line a server writes is scanned for token text
            reflection=reflection,
            auth=auth_settings(issuer, AUDIENCE),
        )
        server = build_server(settings, register=probe.register, service_names=[PROBE_SERVICE])
        await server.start()
        started.append(server)
        return server, probe

    yield make
    for server in started:
        await server.stop(0)


@pytest.fixture
async def channel(start: Start) -> AsyncIterator[grpc.aio.Channel]:
    server, _ = await start()
    async with grpc.aio.insecure_channel(server.address) as ch:
        yield ch


async def call(
    channel: grpc.aio.Channel, kind: str, payload: bytes, metadata: Iterable[tuple[str, str]] = ()
) -> list[bytes]:
    """One call of ``kind`` sending ``payload``: the responses, or the AioRpcError it ended with."""
    method = bytes_method(channel, *KINDS[kind])
    options: dict[str, Any] = {"metadata": tuple(metadata), "timeout": 10}
    if kind == "unary":
        return [await method(payload, **options)]
    if kind in ("server_stream", "writer_stream"):
        return [item async for item in method(payload, **options)]
    if kind == "client_stream":
        return [await method(iter([payload]), **options)]
    return [item async for item in method(iter([payload]), **options)]


def scan_logs(caplog: pytest.LogCaptureFixture, tokens: Iterable[str], expect: str) -> None:
    """No captured log line (message, arguments or structured fields) holds token text."""
    formatter = json_formatter("probe")
    lines = [formatter.format(record) for record in caplog.records]
    lines += [repr(record.__dict__) for record in caplog.records]
    assert any(expect in line for line in lines)  # the scan looked at the lines that matter
    for token in tokens:
        for part in token_parts(token):
            leaked = [line for line in lines if part in line]
            assert not leaked, f"token text in a log line: {leaked[0][:300]}"


def refused_count(method: str) -> float:
    labels = {"service": PROBE_SERVICE, "method": method, "code": "UNAUTHENTICATED"}
    return REGISTRY.get_sample_value("fundledger_grpc_server_handled_total", labels) or 0.0


def assert_refused(err: grpc.aio.AioRpcError, reason: str, token: str | None) -> None:
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED, err
    info = error_info(err)
    assert info is not None
    assert info.reason == reason
    if token:
        exposed = [
            err.details() or "",
            str(info),
            repr(err.trailing_metadata()),
            err.debug_error_string() or "",
        ]
        for part in token_parts(token):
            assert not any(part in text for text in exposed), "token text in the error"


# -- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(KINDS))
async def test_every_rpc_kind_refuses_what_is_not_a_valid_token(
    start: Start, forged: BadTokens, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server, probe = await start()
    cases: dict[str, tuple[tuple[tuple[str, str], ...], str]] = {
        "no_token": ((), "TOKEN_MISSING"),
        "other_scheme": ((("authorization", "Basic YWxpY2U6c2VjcmV0"),), "TOKEN_MALFORMED"),
        "two_tokens": (bearer("a.b.c") + bearer("d.e.f"), "TOKEN_MALFORMED"),
        "empty_bearer": ((("authorization", "Bearer "),), "TOKEN_MALFORMED"),
    }
    for name, (token, reason) in forged.all().items():
        cases[name] = (bearer(token), reason)
    before = refused_count(KINDS[kind][1])
    async with grpc.aio.insecure_channel(server.address) as channel:
        for name, (metadata, reason) in cases.items():
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await call(channel, kind, b"whoami", metadata)
            sent = metadata[0][1].removeprefix("Bearer ") if metadata else None
            try:
                assert_refused(caught.value, reason, sent)
            except AssertionError as failure:
                raise AssertionError(f"{name}: {failure}") from None
    assert probe.streams_closed == 0  # no handler ran
    # Counted by the metrics interceptor outside, like any failed call. The server counts
    # after it sent the status, so the last call's count may land just after the client
    # saw it: wait for it (bounded), then it must be exact.
    expected = before + len(cases)

    async def counted() -> bool:
        return refused_count(KINDS[kind][1]) >= expected

    await wait_until(counted, "the refusals to be counted", 10.0)
    assert refused_count(KINDS[kind][1]) == expected
    scan_logs(caplog, [token for token, _ in forged.all().values()], "call refused")


async def test_a_token_for_another_service_names_the_expected_audience(
    channel: grpc.aio.Channel, issuer: DevIssuer
) -> None:
    token = issuer.mint("alice", "fundledger-event-store")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(channel, "unary", b"x", bearer(token))
    info = error_info(caught.value)
    assert info is not None
    assert dict(info.metadata) == {"check": "audience", "audience": AUDIENCE}


# -- valid tokens -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["unary", "server_stream", "client_stream", "bidi"])
async def test_a_valid_token_reaches_the_handler_as_its_principal(
    channel: grpc.aio.Channel, issuer: DevIssuer, kind: str
) -> None:
    token = issuer.mint("alice", AUDIENCE, roles=["fund-manager", "analyst"], tenant="acme")
    responses = await call(channel, kind, b"whoami", bearer(token))
    assert responses[0] == ALICE


async def test_writer_style_streams_and_service_principals(
    channel: grpc.aio.Channel, issuer: DevIssuer
) -> None:
    token = issuer.mint("system:serviceaccount:fundledger:projector", AUDIENCE, kind="service")
    assert await call(channel, "writer_stream", b"ok", bearer(token)) == [b"written"]
    assert await call(channel, "unary", b"whoami", bearer(token)) == [
        b"service:system:serviceaccount:fundledger:projector:None:"
    ]


async def test_domain_errors_still_map_for_authenticated_calls(
    channel: grpc.aio.Channel, issuer: DevIssuer
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(channel, "unary", b"invalid", bearer(issuer.mint("alice", AUDIENCE)))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_the_client_interceptors_send_the_token_file_and_follow_its_rotation(
    start: Start, issuer: DevIssuer, tmp_path: Path
) -> None:
    server, _ = await start()
    token_file = tmp_path / "token"
    token_file.write_text(issuer.mint("alice", AUDIENCE, roles=["analyst"], tenant="acme"))
    source = TokenSource.from_file(token_file, check_seconds=0.0)
    async with grpc.aio.insecure_channel(
        server.address, interceptors=bearer_interceptors(source)
    ) as channel:
        for kind in ("unary", "server_stream", "client_stream", "bidi"):
            assert (await call(channel, kind, b"whoami"))[0] == b"person:alice:acme:analyst", kind
        rotated = tmp_path / "token.new"
        rotated.write_text(issuer.mint("bob", AUDIENCE, tenant="acme"))
        rotated.replace(token_file)
        assert await call(channel, "unary", b"whoami") == [b"person:bob:acme:"]


# -- open services ----------------------------------------------------------------------------


async def test_health_is_open_without_a_token(channel: grpc.aio.Channel) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    response = await stub.Check(health_pb2.HealthCheckRequest(service=PROBE_SERVICE), timeout=5)
    assert response.status == health_pb2.HealthCheckResponse.SERVING
    watch = stub.Watch(health_pb2.HealthCheckRequest(service=PROBE_SERVICE), timeout=5)
    first = await watch.read()
    assert first.status == health_pb2.HealthCheckResponse.SERVING
    watch.cancel()


async def _list_services(channel: grpc.aio.Channel, metadata: Any = ()) -> list[str]:
    async def requests() -> AsyncIterator[reflection_pb2.ServerReflectionRequest]:
        yield reflection_pb2.ServerReflectionRequest(list_services="")

    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    names: list[str] = []
    async for response in stub.ServerReflectionInfo(requests(), metadata=metadata, timeout=5):
        names += [service.name for service in response.list_services_response.service]
    return names


async def test_reflection_is_open_while_the_setting_is_on(channel: grpc.aio.Channel) -> None:
    assert PROBE_SERVICE in await _list_services(channel)


async def test_reflection_needs_a_token_when_the_setting_is_off(
    start: Start, issuer: DevIssuer
) -> None:
    server, _ = await start(reflection=False)
    async with grpc.aio.insecure_channel(server.address) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _list_services(channel)
        assert_refused(caught.value, "TOKEN_MISSING", None)
        token = issuer.mint("alice", AUDIENCE)
        assert PROBE_SERVICE in await _list_services(channel, bearer(token))


# -- streams outliving their token ------------------------------------------------------------


@pytest.mark.parametrize("payload", [b"forever", b"idle"])
async def test_a_server_stream_ends_when_its_token_expires(
    channel: grpc.aio.Channel, issuer: DevIssuer, payload: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    """`forever` sends without pause (checked between messages); `idle` sends nothing after its
    first items (the timer ends it)."""
    caplog.set_level(logging.DEBUG)
    token = issuer.mint("alice", AUDIENCE, ttl_seconds=2)
    method = bytes_method(channel, "unary_stream", "ServerStream")
    first: list[bytes] = []

    async def read() -> None:
        async for item in method(payload, metadata=bearer(token), timeout=30):
            if len(first) < 3:  # `forever` sends a lot: keep only the start
                first.append(item)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await read()
    assert_refused(caught.value, "TOKEN_EXPIRED", token)
    assert first == [b"item-0", b"item-1", b"item-2"]
    scan_logs(caplog, [token], "stream ended")


async def test_a_bidi_stream_ends_when_its_token_expires(
    channel: grpc.aio.Channel, issuer: DevIssuer
) -> None:
    token = issuer.mint("alice", AUDIENCE, ttl_seconds=2)
    quiet = asyncio.Event()

    async def requests() -> AsyncIterator[bytes]:
        yield b"hello"
        await quiet.wait()  # keeps the request side open and silent

    method = bytes_method(channel, "stream_stream", "Bidi")
    items, err = await drain(method(requests(), metadata=bearer(token), timeout=30))
    quiet.set()
    assert items == [b"HELLO"]
    assert err is not None
    assert_refused(err, "TOKEN_EXPIRED", token)


# -- keys rotating under a running server -----------------------------------------------------


async def test_key_rotation_on_a_running_server(
    channel: grpc.aio.Channel, issuer: DevIssuer
) -> None:
    old_kid = issuer.signing_kid
    assert await call(channel, "unary", b"whoami", bearer(issuer.mint("alice", AUDIENCE)))
    issuer.rotate()
    new_token = issuer.mint("carol", AUDIENCE)
    assert await call(channel, "unary", b"whoami", bearer(new_token)) == [b"person:carol:None:"]
    by_old_key = issuer.mint("dave", AUDIENCE, kid=old_kid)
    issuer.retire(old_kid)

    async def refused() -> bool:
        try:
            await call(channel, "unary", b"whoami", bearer(by_old_key))
        except grpc.aio.AioRpcError as err:
            assert_refused(err, "TOKEN_INVALID", by_old_key)
            return True
        return False

    # The server looks at the JWKS file again within a second.
    await wait_until(refused, "a token of the withdrawn key to be refused")
    assert await call(channel, "unary", b"whoami", bearer(new_token))


def test_no_token_in_the_jwks_or_issuers_files(issuer: DevIssuer) -> None:
    """What servers read is public: no private key member in the JWKS file."""
    document = json.loads(issuer.jwks_path.read_text())
    assert all(not ({"d", "p", "q", "k"} & set(key)) for key in document["keys"])


# -- visibility of refusals -------------------------------------------------------------------

AUTH_REASONS = ("TOKEN_MISSING", "TOKEN_MALFORMED", "TOKEN_EXPIRED", "TOKEN_INVALID")


def denied_count(method: str, reason: str) -> float:
    labels = {"service": PROBE_SERVICE, "method": method, "reason": reason}
    return REGISTRY.get_sample_value("fundledger_auth_denied_total", labels) or 0.0


def denied_counts(method: str) -> dict[str, float]:
    return {reason: denied_count(method, reason) for reason in AUTH_REASONS}


async def test_a_refusal_counts_once_with_its_reason_and_logs_one_warning(
    channel: grpc.aio.Channel, issuer: DevIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = issuer.mint("alice", AUDIENCE, ttl_seconds=-120)
    before = denied_counts("Unary")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(channel, "unary", b"whoami", bearer(token))
    assert_refused(caught.value, "TOKEN_EXPIRED", token)
    after = denied_counts("Unary")
    assert {reason: after[reason] - before[reason] for reason in AUTH_REASONS} == {
        "TOKEN_MISSING": 0.0,
        "TOKEN_MALFORMED": 0.0,
        "TOKEN_EXPIRED": 1.0,
        "TOKEN_INVALID": 0.0,
    }
    [record] = [r for r in caplog.records if r.getMessage().startswith("call refused")]
    assert record.levelno == logging.WARNING
    assert record.__dict__["service"] == PROBE_SERVICE
    assert record.__dict__["method"] == "Unary"
    assert record.__dict__["reason"] == "TOKEN_EXPIRED"
    scan_logs(caplog, [token], "TOKEN_EXPIRED")


async def test_an_allowed_call_counts_no_denial(
    channel: grpc.aio.Channel, issuer: DevIssuer
) -> None:
    before = denied_counts("Unary")
    token = issuer.mint("alice", AUDIENCE, roles=["analyst"], tenant="acme")
    assert await call(channel, "unary", b"whoami", bearer(token)) == [b"person:alice:acme:analyst"]
    assert denied_counts("Unary") == before
