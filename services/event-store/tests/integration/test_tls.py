"""The event store over TLS and mutual TLS: the platform's event-store client and readiness
probe (what every other service uses to reach it) and the dev stack's health check."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from eventstore.bootstrap import EventStore
from eventstore_support import append, event, new_stream
from fundledger_devstack.health import SERVING, UNREACHABLE, check_health, tls_credentials
from fundledger_devstack.local_ca import issue_client_cert
from fundledger_platform.eventstore_client import EventStoreClient, EventStoreProbe
from fundledger_platform.settings import TlsSettings

from tests.support.server_settings import loopback_server_settings
from tests.support.tls_files import Pki, make_pki, with_tls


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path)


async def tls_store(store_factory: Callable[..., Any], tls: TlsSettings) -> EventStore:
    settings = with_tls(loopback_server_settings("event-store"), tls)
    store: EventStore = await store_factory(server=settings)
    return store


async def append_and_read(client: EventStoreClient) -> None:
    stream = new_stream()
    response = await client.append(append(stream, event(), event()))
    assert response.last_version == 2
    assert [e.version for e in await client.read_stream(stream)] == [1, 2]
    info = await client.stream_info(stream)
    assert info is not None
    assert info.version == 2


async def probe_ready(address: str, tls: TlsSettings | None) -> bool:
    probe = EventStoreProbe(address, 5.0, tls=tls)
    try:
        return await probe.ready()
    finally:
        await probe.close()


async def test_client_probe_and_health_check_over_tls(
    store_factory: Callable[..., Any], pki: Pki
) -> None:
    store = await tls_store(store_factory, pki.server_tls())
    address = store.server.address
    client = EventStoreClient(address, timeout_seconds=10, tls=pki.client_tls())
    try:
        await append_and_read(client)
    finally:
        await client.close()
    assert await probe_ready(address, pki.client_tls())
    assert not await probe_ready(address, None)  # plaintext: refused

    plaintext = EventStoreClient(address, timeout_seconds=5)
    try:
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await plaintext.stream_info(new_stream())
        assert failure.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        await plaintext.close()

    credentials = tls_credentials(pki.ca.cert)
    assert await asyncio.to_thread(check_health, address, 5.0, "", credentials) == SERVING
    assert await asyncio.to_thread(check_health, address, 2.0) == UNREACHABLE


async def test_mutual_tls_needs_a_client_certificate_from_the_ca(
    store_factory: Callable[..., Any], pki: Pki
) -> None:
    store = await tls_store(store_factory, pki.server_tls(mutual=True))
    address = store.server.address
    assert not await probe_ready(address, pki.client_tls())
    assert not await probe_ready(address, pki.client_tls(cert=pki.other_client))
    assert await probe_ready(address, pki.client_tls(cert=pki.client))

    client = EventStoreClient(address, timeout_seconds=10, tls=pki.client_tls(cert=pki.client))
    try:
        await append_and_read(client)
        # The client certificate is renewed on disk: the next calls use it, on a new channel.
        renewed = issue_client_cert(pki.directory, "projector")
        assert renewed.cert == pki.client.cert
        assert renewed.serial != pki.client.serial
        await append_and_read(client)
        assert client._channel.generation == 1  # the calls went over a new channel
    finally:
        await client.close()

    credentials = tls_credentials(pki.ca.cert, pki.client.cert, pki.client.key)
    assert await asyncio.to_thread(check_health, address, 5.0, "", credentials) == SERVING
    without = tls_credentials(pki.ca.cert)
    assert await asyncio.to_thread(check_health, address, 2.0, "", without) == UNREACHABLE
