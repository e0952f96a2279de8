"""Acting for a person: a service sends the person's token in ``x-fundledger-subject-token``.

Real probe servers built with authentication on, real tokens from a dev issuer; forged ones made
like an attacker would (tests/support/auth.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc
import pytest
from fundledger_devstack.dev_issuer import DevIssuer
from fundledger_platform.auth.client import TokenSource, bearer_interceptors
from fundledger_platform.auth.forwarding import SUBJECT_TOKEN_HEADER, as_service, person_token
from fundledger_platform.auth.interceptor import acting_for
from fundledger_platform.auth.principal import current_principal
from fundledger_platform.auth.verifier import TokenVerifier
from fundledger_platform.errors import Unauthenticated, error_info
from fundledger_platform.server import ServiceServer, build_server
from platform_probe import PROBE_SERVICE, Probe, bytes_method, probe_settings

from tests.support.auth import auth_settings, bad_tokens, bearer, token_parts

AUDIENCE = "fundledger-probe"
SERVICE = "system:serviceaccount:fundledger:allocation"


def _identity() -> bytes:
    principal = current_principal()
    if principal is None:
        return b"nobody"
    return (
        f"{principal.kind}:{principal.subject}:{principal.tenant}:"
        f"{','.join(sorted(principal.roles))}:{principal.actor}"
    ).encode()


class ForwardingProbe(Probe):
    """``who``: the principal (with its actor); ``via:<address>``: asks the probe at
    ``address`` who it sees, through the platform's client as the service; ``background:…``:
    the same from a task started with ``as_service``."""

    def __init__(self, service_token: str) -> None:
        super().__init__()
        self.service_token = service_token

    async def unary(self, request: bytes, context: Any) -> bytes:
        if request == b"who":
            return _identity()
        if request.startswith((b"via:", b"background:")):
            kind, _, address = request.decode().partition(":")
            if kind == "via":
                return await self._ask(address)
            with as_service():
                return await asyncio.create_task(self._ask(address))
        return await super().unary(request, context)

    async def server_stream(self, request: bytes, context: Any) -> AsyncIterator[bytes]:
        if request.startswith(b"via:"):
            yield await self._ask(request.decode().partition(":")[2])
            return
        async for item in super().server_stream(request, context):
            yield item

    async def _ask(self, address: str) -> bytes:
        interceptors = bearer_interceptors(TokenSource.fixed(self.service_token))
        async with grpc.aio.insecure_channel(address, interceptors=interceptors) as channel:
            answer: bytes = await bytes_method(channel, "unary_unary", "Unary")(b"who", timeout=10)
            return answer


Start = Callable[[], Awaitable[ServiceServer]]


@pytest.fixture
def issuer(tmp_path: Path) -> DevIssuer:
    return DevIssuer(tmp_path / "issuer")


@pytest.fixture
def service_token(issuer: DevIssuer) -> str:
    return issuer.mint(SERVICE, AUDIENCE, roles=["svc-allocation"], kind="service")


@pytest.fixture
async def start(issuer: DevIssuer, service_token: str) -> AsyncIterator[Start]:
    started: list[ServiceServer] = []

    async def make() -> ServiceServer:
        probe = ForwardingProbe(service_token)
        settings = replace(
            probe_settings(), log_level="DEBUG", auth=auth_settings(issuer, AUDIENCE)
        )
        server = build_server(settings, register=probe.register, service_names=[PROBE_SERVICE])
        await server.start()
        started.append(server)
        return server

    yield make
    for server in started:
        await server.stop(0)


def person(issuer: DevIssuer, subject: str = "alice", **kwargs: Any) -> str:
    kwargs.setdefault("roles", ["fund-manager"])
    kwargs.setdefault("tenant", "acme")
    return issuer.mint(subject, AUDIENCE, **kwargs)


def acting(service_token: str, subject_token: str) -> tuple[tuple[str, str], ...]:
    return (*bearer(service_token), (SUBJECT_TOKEN_HEADER, subject_token))


async def unary(server: ServiceServer, payload: bytes, metadata: Any) -> bytes:
    async with grpc.aio.insecure_channel(server.address) as channel:
        answer: bytes = await bytes_method(channel, "unary_unary", "Unary")(
            payload, metadata=tuple(metadata), timeout=10
        )
        return answer


async def refusal(server: ServiceServer, metadata: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await unary(server, b"who", metadata)
    return caught.value


def assert_subject_refused(err: grpc.aio.AioRpcError, reason: str, *tokens: str) -> None:
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED, err
    info = error_info(err)
    assert info is not None
    assert (info.reason, info.metadata["check"]) == (reason, "subject_token")
    exposed = [err.details() or "", str(info), repr(err.trailing_metadata())]
    for token in tokens:
        for part in token_parts(token):
            assert not any(part in text for text in exposed), "token text in the error"


async def test_a_service_acting_for_a_person_calls_as_the_person(
    start: Start, issuer: DevIssuer, service_token: str
) -> None:
    server = await start()
    answer = await unary(server, b"who", acting(service_token, person(issuer)))
    assert answer == f"person:alice:acme:fund-manager:{SERVICE}".encode()
    # Alone, the service is itself.
    assert await unary(server, b"who", bearer(service_token)) == (
        f"service:{SERVICE}:None:svc-allocation:None".encode()
    )


async def test_a_person_cannot_send_a_subject_token(
    start: Start, issuer: DevIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server = await start()
    mallory, alice = person(issuer, "mallory"), person(issuer, "alice", roles=["admin"])
    err = await refusal(server, acting(mallory, alice))
    assert_subject_refused(err, "TOKEN_INVALID", mallory, alice)
    lines = [repr(record.__dict__) for record in caplog.records]
    assert any("subject_token" in line for line in lines)  # the refusal was logged …
    for part in token_parts(alice):
        assert not any(part in line for line in lines)  # … without the token


async def test_a_subject_token_must_verify_like_a_bearer_token(
    start: Start, issuer: DevIssuer, service_token: str, tmp_path: Path
) -> None:
    server = await start()
    forged = bad_tokens(tmp_path, AUDIENCE, issuer)
    for name, (token, reason) in forged.all().items():
        if name == "oversize":
            continue  # with the service token it would pass gRPC's metadata limit
        expected = "TOKEN_EXPIRED" if reason == "TOKEN_EXPIRED" else "TOKEN_INVALID"
        err = await refusal(server, acting(service_token, token))
        assert_subject_refused(err, expected, token)
    # A service's token is not a person's.
    other = issuer.mint("system:serviceaccount:fundledger:storage", AUDIENCE, kind="service")
    assert_subject_refused(
        await refusal(server, acting(service_token, other)), "TOKEN_INVALID", other
    )
    # Two subject tokens, or an empty one.
    alice = person(issuer)
    two = (*acting(service_token, alice), (SUBJECT_TOKEN_HEADER, alice))
    assert_subject_refused(await refusal(server, two), "TOKEN_INVALID", alice)
    assert_subject_refused(await refusal(server, acting(service_token, " ")), "TOKEN_INVALID")


async def test_the_platform_client_forwards_the_person_being_served(
    start: Start, issuer: DevIssuer, service_token: str
) -> None:
    front, back = await start(), await start()
    alice = person(issuer)
    via = f"via:{back.address}".encode()
    expected = f"person:alice:acme:fund-manager:{SERVICE}".encode()
    # The person called the front service directly: their own token is forwarded.
    assert await unary(front, via, bearer(alice)) == expected
    # The front service was itself called for the person: the forwarded token goes on.
    assert await unary(front, via, acting(service_token, alice)) == expected
    # No person in context (the service itself, or a task started with as_service).
    assert await unary(front, via, bearer(service_token)) == (
        f"service:{SERVICE}:None:svc-allocation:None".encode()
    )
    background = f"background:{back.address}".encode()
    assert await unary(front, background, bearer(alice)) == (
        f"service:{SERVICE}:None:svc-allocation:None".encode()
    )
    # Streaming handlers forward too.
    async with grpc.aio.insecure_channel(front.address) as channel:
        call = bytes_method(channel, "unary_stream", "ServerStream")(
            via, metadata=bearer(alice), timeout=10
        )
        assert [item async for item in call] == [expected]


async def test_the_person_token_is_only_in_context_while_their_call_runs(
    start: Start, issuer: DevIssuer
) -> None:
    server = await start()
    await unary(server, b"who", bearer(person(issuer)))
    assert person_token() is None


async def test_the_subject_token_uses_the_verifier_and_its_cache(
    issuer: DevIssuer, service_token: str
) -> None:
    verifier = TokenVerifier(auth_settings(issuer, AUDIENCE))
    caller = await verifier.verify(service_token)
    alice = person(issuer)
    first = await acting_for(verifier, caller, alice)
    checks = verifier.signature_checks
    for _ in range(3):
        assert await acting_for(verifier, caller, alice) == first
    assert verifier.signature_checks == checks
    assert (first.subject, first.actor, first.tenant) == ("alice", SERVICE, "acme")
    assert first.expires_at <= caller.expires_at
    # The person's token must be meant for this service like any bearer token.
    elsewhere = issuer.mint("alice", "fundledger-other", tenant="acme")
    with pytest.raises(Unauthenticated) as caught:
        await acting_for(verifier, caller, elsewhere)
    assert caught.value.metadata == {"check": "subject_token", "cause": "audience"}
