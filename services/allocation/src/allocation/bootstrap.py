"""The composition root: builds the event-store client, the fund views, the servicer and server.

No database and no bus: allocation reads fund state from the event store's log and writes by
appending to it, so its only dependency is the event store.
"""

from __future__ import annotations

from dataclasses import dataclass

from fundledger.allocation.v1 import allocation_pb2, allocation_pb2_grpc
from fundledger_platform.auth.client import TokenSource
from fundledger_platform.eventstore_client import EventStoreClient, EventStoreProbe
from fundledger_platform.server import ServiceServer, build_server

from allocation.adapters.event_log import GrpcEventLog
from allocation.config import Settings
from allocation.entrypoints.grpc_servicer import AllocationServicer
from allocation.service_layer.fund_views import FundViews

SERVICE_NAME = allocation_pb2.DESCRIPTOR.services_by_name["AllocationService"].full_name


@dataclass
class Allocation:
    """A built allocation service: the server plus the parts tests reach into."""

    server: ServiceServer
    views: FundViews
    events: GrpcEventLog


def build(settings: Settings, *, eventstore_token: TokenSource | None = None) -> Allocation:
    """``eventstore_token``: allocation's own identity towards the event store; by default
    FUNDLEDGER_AUTH_TOKEN_FILE (tests pass the stack's service token)."""
    tls = settings.server.tls
    client = EventStoreClient(
        settings.eventstore_address,
        timeout_seconds=settings.eventstore_timeout_seconds,
        tls=tls,
        token=eventstore_token,
    )
    probe = EventStoreProbe(settings.eventstore_address, tls=tls, token=eventstore_token)
    events = GrpcEventLog(client)
    views = FundViews(events, settings.cache_funds)
    servicer = AllocationServicer(views, events, settings.thresholds, settings.max_proposals)

    async def close_clients() -> None:
        await client.close()
        await probe.close()

    server = build_server(
        settings.server,
        register=lambda s: allocation_pb2_grpc.add_AllocationServiceServicer_to_server(servicer, s),
        service_names=[SERVICE_NAME],
        readiness=probe.ready,
        # After server.stop(grace): in-flight commits have finished their appends by then.
        on_shutdown=[close_clients],
    )
    return Allocation(server, views, events)
