"""The standard gRPC health check (grpc.health.v1.Health/Check), from outside a service."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from fundledger_devstack.errors import DevstackError

SERVING = "SERVING"
UNREACHABLE = "UNREACHABLE"
# gRPC, like urllib, would route even 127.0.0.1 through an http_proxy from the
# environment; our services are always local.
_CHANNEL_OPTIONS = [("grpc.enable_http_proxy", 0)]


class NotServingError(DevstackError):
    """The health check did not say SERVING in time."""


def check_health(
    address: str,
    timeout: float = 2.0,
    service: str = "",
    credentials: grpc.ChannelCredentials | None = None,
) -> str:
    """The serving status of `service` ("" = the whole server) at `address` ("host:port").

    One of SERVING, NOT_SERVING, SERVICE_UNKNOWN, UNKNOWN; UNREACHABLE when nothing
    answers; "ERROR <code>" when the server answers with an error (no health service?).
    With `credentials` (TLS, e.g. `tls_credentials`) the check uses TLS, else plaintext.
    """
    with _channel(address, credentials) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            response = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        except grpc.RpcError as exc:
            code = exc.code()
            if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                return UNREACHABLE
            return f"ERROR {code.name}"
    name: str = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
    return name


def tls_credentials(
    ca_file: Path, client_cert_file: Path | None = None, client_key_file: Path | None = None
) -> grpc.ChannelCredentials:
    """TLS credentials trusting `ca_file`, with a client certificate for mutual TLS."""
    client_key = None if client_key_file is None else client_key_file.read_bytes()
    client_cert = None if client_cert_file is None else client_cert_file.read_bytes()
    return grpc.ssl_channel_credentials(ca_file.read_bytes(), client_key, client_cert)


def _channel(address: str, credentials: grpc.ChannelCredentials | None) -> grpc.Channel:
    if credentials is None:
        return grpc.insecure_channel(address, options=_CHANNEL_OPTIONS)
    return grpc.secure_channel(address, credentials, options=_CHANNEL_OPTIONS)


def wait_serving(
    address: str,
    timeout: float,
    check: Callable[[], None] | None = None,
    what: str = "service",
    credentials: grpc.ChannelCredentials | None = None,
) -> None:
    """Poll the health check until SERVING, at most `timeout` seconds.

    `check` runs between polls and may raise to give up early (the process exited).
    """
    deadline = time.monotonic() + timeout
    status = UNREACHABLE
    while True:
        if check is not None:
            check()
        status = check_health(address, timeout=1.0, credentials=credentials)
        if status == SERVING:
            return
        if time.monotonic() >= deadline:
            raise NotServingError(f"{what} at {address} not SERVING after {timeout:.0f}s: {status}")
        time.sleep(0.1)
