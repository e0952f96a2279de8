"""Is the event store reachable and ready? (for this service's health)

Asks the event store's own standard health service, which is SERVING only
while the store's database and bus are up: storage cannot record a file
without FILE_ATTACHED, so it is not ready when the store is not.
"""

from __future__ import annotations

import grpc
from fundledger.eventstore.v1 import eventstore_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

EVENTSTORE_SERVICE = eventstore_pb2.DESCRIPTOR.services_by_name["EventStoreService"].full_name


class EventStoreProbe:
    def __init__(self, target: str, timeout_seconds: float = 1.0) -> None:
        self._channel = grpc.aio.insecure_channel(target)
        self._stub = health_pb2_grpc.HealthStub(self._channel)
        self._timeout = timeout_seconds

    async def ready(self) -> bool:
        try:
            response = await self._stub.Check(
                health_pb2.HealthCheckRequest(service=EVENTSTORE_SERVICE), timeout=self._timeout
            )
        except grpc.aio.AioRpcError:
            return False
        return bool(response.status == health_pb2.HealthCheckResponse.SERVING)

    async def close(self) -> None:
        await self._channel.close(None)
