"""Server settings for a service started inside a test or a benchmark."""

from __future__ import annotations

from fundledger_platform.settings import ServerSettings


def loopback_server_settings(
    service_name: str,
    *,
    grpc_port: int = 0,
    metrics_port: int = -1,
    shutdown_grace_seconds: float = 2.0,
) -> ServerSettings:
    """Loopback on a free port (0), no metrics endpoint (-1), quiet logs, no trace export."""
    return ServerSettings(
        service_name=service_name,
        grpc_host="127.0.0.1",
        grpc_port=grpc_port,
        metrics_port=metrics_port,
        log_level="WARNING",
        otlp_endpoint=None,
        shutdown_grace_seconds=shutdown_grace_seconds,
    )
