"""TLS and mutual TLS on a real probe server: who gets served, and certificate rotation
without a restart (server side: the next connection; client side: the next call)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc
import pytest
from fundledger_devstack.local_ca import issue_server_cert
from fundledger_platform.server import ServiceServer, build_server
from fundledger_platform.settings import TlsSettings
from fundledger_platform.tls import ReloadingChannel, channel
from platform_probe import PROBE_SERVICE, Probe, bytes_method, probe_settings

from tests.support.tls_files import Pki, copy_file, make_pki, served_certificate

StartServer = Callable[[TlsSettings], Awaitable[tuple[ServiceServer, Probe]]]


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path)


@pytest.fixture
async def start_server() -> AsyncIterator[StartServer]:
    started: list[ServiceServer] = []

    async def start(tls: TlsSettings) -> tuple[ServiceServer, Probe]:
        probe = Probe()
        server = build_server(
            replace(probe_settings(), tls=tls),
            register=probe.register,
            service_names=[PROBE_SERVICE],
        )
        await server.start()
        started.append(server)
        return server, probe

    yield start
    for server in started:
        await server.stop(0)


def unary(ch: grpc.aio.Channel) -> Any:
    return bytes_method(ch, "unary_unary", "Unary")


async def echo(target: str, tls: TlsSettings | None, message: bytes = b"hello") -> bytes:
    async with channel(target, tls) as ch:
        reply: bytes = await unary(ch)(message, timeout=5)
        return reply


async def refused(target: str, tls: TlsSettings | None) -> grpc.StatusCode:
    """The code of a call that must not be served (b"slow:0" would mark the probe)."""
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await echo(target, tls, b"slow:0")
    return failure.value.code()


async def test_tls_client_with_the_ca_is_served(start_server: StartServer, pki: Pki) -> None:
    server, _ = await start_server(pki.server_tls())
    assert server.certificates is not None
    assert server.certificates.current.serial == pki.server.serial
    assert await echo(server.address, pki.client_tls()) == b"hello"
    # A host name from the certificate works as well as its IP address.
    assert await echo(f"localhost:{server.port}", pki.client_tls()) == b"hello"


async def test_plaintext_client_is_refused_and_never_served(
    start_server: StartServer, pki: Pki
) -> None:
    server, probe = await start_server(pki.server_tls())
    assert await refused(server.address, None) == grpc.StatusCode.UNAVAILABLE
    assert not probe.slow_started.is_set()


async def test_client_trusting_another_ca_is_refused(start_server: StartServer, pki: Pki) -> None:
    server, probe = await start_server(pki.server_tls())
    untrusting = pki.client_tls(ca=pki.other_ca.cert)
    assert await refused(server.address, untrusting) == grpc.StatusCode.UNAVAILABLE
    assert not probe.slow_started.is_set()


async def test_mutual_tls_serves_only_clients_with_a_certificate_from_the_ca(
    start_server: StartServer, pki: Pki
) -> None:
    server, probe = await start_server(pki.server_tls(mutual=True))
    assert await refused(server.address, pki.client_tls()) == grpc.StatusCode.UNAVAILABLE
    foreign = pki.client_tls(cert=pki.other_client)
    assert await refused(server.address, foreign) == grpc.StatusCode.UNAVAILABLE
    assert await refused(server.address, None) == grpc.StatusCode.UNAVAILABLE
    assert not probe.slow_started.is_set()
    assert await echo(server.address, pki.client_tls(cert=pki.client)) == b"hello"
    # A server certificate (both usages) also serves as its service's client certificate.
    assert await echo(server.address, pki.client_tls(cert=pki.server)) == b"hello"


async def test_a_rotated_server_certificate_applies_to_the_next_connection(
    start_server: StartServer, pki: Pki
) -> None:
    server, _ = await start_server(pki.server_tls())
    assert server.certificates is not None
    before = await served_certificate(server.port, pki.ca.cert)
    assert before.serial_number == pki.server.serial
    async with channel(server.address, pki.client_tls()) as open_before:
        call = unary(open_before)
        assert await call(b"one", timeout=5) == b"one"

        rotated = pki.rotate_server()

        assert rotated.serial != pki.server.serial
        after = await served_certificate(server.port, pki.ca.cert)
        assert after.serial_number == rotated.serial
        assert server.certificates.current.serial == rotated.serial
        assert server.certificates.reloads == 1
        # New channels are served with the new certificate, the open one keeps working.
        assert await echo(server.address, pki.client_tls()) == b"hello"
        assert await call(b"two", timeout=5) == b"two"


async def test_unusable_new_files_keep_the_current_certificate(
    start_server: StartServer, pki: Pki
) -> None:
    server, _ = await start_server(pki.server_tls())
    assert server.certificates is not None
    # A key that does not belong to the certificate: unusable, the current pair stays.
    copy_file(pki.client.key, pki.server.key)
    assert (await served_certificate(server.port, pki.ca.cert)).serial_number == pki.server.serial
    assert server.certificates.current.serial == pki.server.serial
    assert server.certificates.reloads == 0
    assert await echo(server.address, pki.client_tls()) == b"hello"
    # A valid pair written later is picked up.
    fixed = pki.rotate_server()
    assert (await served_certificate(server.port, pki.ca.cert)).serial_number == fixed.serial


async def test_a_reloading_channel_follows_a_new_ca_and_client_certificate(
    start_server: StartServer, pki: Pki, tmp_path: Path
) -> None:
    """The server moves to a certificate from another CA; the caller's CA file is replaced
    (as a Secret update does): its next call goes over a new channel that trusts it."""
    client_dir = tmp_path / "client"
    client_dir.mkdir()
    ca_file = client_dir / "ca.crt"
    copy_file(pki.ca.cert, ca_file)
    server, _ = await start_server(pki.server_tls())
    reloading = ReloadingChannel(server.address, TlsSettings(ca_file=ca_file))
    try:
        stub = reloading.stub(unary)
        assert await stub(b"one", timeout=5) == b"one"
        assert reloading.generation == 0
        first = reloading.get()

        # The server's files now hold a certificate from the other CA.
        moved = issue_server_cert(pki.directory.parent / "other-ca", stem="server")
        copy_file(moved.key, pki.server.key)
        copy_file(moved.cert, pki.server.cert)
        assert (
            await served_certificate(server.port, pki.other_ca.cert)
        ).serial_number == moved.serial
        # A new connection from the old channel's credentials would be refused now.
        assert await refused(server.address, TlsSettings(ca_file=pki.ca.cert)) == (
            grpc.StatusCode.UNAVAILABLE
        )

        copy_file(pki.other_ca.cert, ca_file)
        stub = reloading.stub(unary)
        assert reloading.generation == 1
        assert reloading.get() is not first
        assert await stub(b"two", timeout=5) == b"two"
    finally:
        await reloading.close()


async def test_a_reloading_channel_without_tls_never_changes(
    start_server: StartServer,
) -> None:
    server, _ = await start_server(TlsSettings())
    assert server.certificates is None
    reloading = ReloadingChannel(server.address, None)
    try:
        first = reloading.get()
        call = reloading.stub(unary)
        assert await call(b"plain", timeout=5) == b"plain"
        assert reloading.get() is first
    finally:
        await reloading.close()
