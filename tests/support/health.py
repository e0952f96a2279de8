"""Health checks in tests: what a Kubernetes probe or a load balancer would ask a server."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

SERVING = health_pb2.HealthCheckResponse.SERVING


async def assert_serving(channel: grpc.aio.Channel, service_name: str) -> None:
    """Both the whole server ("") and the named service answer SERVING on ``channel`` (a
    probe sends no token: health stays open with authentication on)."""
    health = health_pb2_grpc.HealthStub(channel)
    for name in ("", service_name):
        response = await health.Check(health_pb2.HealthCheckRequest(service=name))
        assert response.status == SERVING, f"{name or 'server'}: {response.status}"
