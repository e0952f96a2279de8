"""Is the event store reachable and ready? (allocation's health)

Allocation has no database of its own: every answer is folded from the event store's log and
every commit is an append to it. So it is ready exactly when the store's own standard health
service says SERVING (which it does only while the store's database and bus are up).
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
