"""Allocation wired for TLS from its settings: it serves TLS and reaches an event store that
requires mutual TLS with its own certificate (readiness, reads and an append)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from allocation.bootstrap import SERVICE_NAME, Allocation, build
from allocation_stack import allocation_settings
from allocation_support import Company, new_fund, proposals, seed_fund
from fundledger.allocation.v1 import allocation_pb2 as pb
from fundledger.allocation.v1 import allocation_pb2_grpc
from fundledger.eventstore.v1 import eventstore_pb2_grpc
from fundledger_platform.settings import TlsSettings
from fundledger_platform.tls import channel
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.support.event_store import EventStoreFactory
from tests.support.server_settings import loopback_server_settings
from tests.support.tls_files import Pki, make_pki, with_tls

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
PORTFOLIO = [Company("a", "Alpha", planned=100), Company("b", "Bravo", planned=200)]


async def start_allocation(store_address: str, tls: TlsSettings) -> Allocation:
    settings = replace(
        allocation_settings(store_address),
        server=with_tls(loopback_server_settings("allocation"), tls),
    )
    allocation = build(settings)
    await allocation.server.start()
    return allocation


def allocation_tls(pki: Pki, *, with_client_cert: bool) -> TlsSettings:
    """Serve with the server certificate; trust the CA; present the same certificate."""
    return replace(
        pki.server_tls(),
        ca_file=pki.ca.cert,
        client_cert_file=pki.server.cert if with_client_cert else None,
        client_key_file=pki.server.key if with_client_cert else None,
    )


async def serving(address: str, pki: Pki) -> int:
    async with channel(address, pki.client_tls()) as ch:
        response = await health_pb2_grpc.HealthStub(ch).Check(
            health_pb2.HealthCheckRequest(service=SERVICE_NAME), timeout=5
        )
        return int(response.status)


async def test_allocation_over_tls_to_an_event_store_requiring_mutual_tls(
    event_store_factory: EventStoreFactory, tmp_path: Path
) -> None:
    pki = make_pki(tmp_path)
    store = await event_store_factory(
        server=with_tls(loopback_server_settings("event-store"), pki.server_tls(mutual=True))
    )
    fund = new_fund()
    async with channel(store.server.address, pki.client_tls(cert=pki.client)) as store_channel:
        version = await seed_fund(
            eventstore_pb2_grpc.EventStoreServiceStub(store_channel), fund, PORTFOLIO
        )

    allocation = await start_allocation(
        store.server.address, allocation_tls(pki, with_client_cert=True)
    )
    try:
        assert await serving(allocation.server.address, pki) == SERVING
        async with channel(allocation.server.address, pki.client_tls()) as ch:
            api = allocation_pb2_grpc.AllocationServiceStub(ch)
            committed = await api.CommitReallocation(
                pb.CommitReallocationRequest(
                    fund_id=fund,
                    expected_version=version,
                    proposals=proposals(("a", 150)),
                    reason="over mutual TLS",
                    user_id="alice",
                ),
                timeout=10,
            )
            audit = await api.ListReallocationAudit(
                pb.ListReallocationAuditRequest(fund_id=fund), timeout=10
            )
        assert [e.new_version for e in audit.entries] == [committed.new_version]
    finally:
        await allocation.server.stop(1.0)

    # Without its client certificate the store refuses it: allocation is not ready.
    refused = await start_allocation(
        store.server.address, allocation_tls(pki, with_client_cert=False)
    )
    try:
        assert await serving(refused.server.address, pki) == NOT_SERVING
    finally:
        await refused.server.stop(1.0)
