"""A Kubernetes exec probe: ask this pod's own gRPC health service, over TLS when configured.

The kubelet's native ``grpc`` probe speaks plaintext only, so it cannot reach a server that
serves TLS. The Deployments run this instead, with the image's Python::

    python -m fundledger_platform.health_probe [--service fundledger.projector.v1.ProjectorService]

It reads the container's own settings (``FUNDLEDGER_GRPC_PORT``, ``FUNDLEDGER_TLS_*``), calls
``grpc.health.v1.Health/Check`` on the loopback address and exits 0 for SERVING, 1 otherwise
(NOT_SERVING, no answer in time, a refused handshake). With TLS the server certificate is
checked against ``FUNDLEDGER_TLS_CA_FILE`` under the name given by ``--authority`` (the
Service's name, which the certificate carries: the loopback address is not in it), and the
client certificate is presented when one is configured (mutual TLS). Health needs no token.

Only the settings module, grpc and the health stubs are imported: the kubelet starts this every
few seconds, so it must stay cheap.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from fundledger_platform.settings import TlsSettings, env_int

__all__ = ["check", "main"]

_SERVING = health_pb2.HealthCheckResponse.SERVING


def _credentials(tls: TlsSettings) -> grpc.ChannelCredentials | None:
    if tls.ca_file is None:
        return None
    client_key = None if tls.client_key_file is None else tls.client_key_file.read_bytes()
    client_chain = None if tls.client_cert_file is None else tls.client_cert_file.read_bytes()
    return grpc.ssl_channel_credentials(
        root_certificates=tls.ca_file.read_bytes(),
        private_key=client_key,
        certificate_chain=client_chain,
    )


def check(
    port: int,
    *,
    service: str,
    tls: TlsSettings,
    authority: str | None,
    timeout_seconds: float,
    host: str = "127.0.0.1",
) -> str:
    """The health status name of ``service`` on ``host:port`` ("SERVING", "NOT_SERVING", …)."""
    target = f"{host}:{port}"
    credentials = _credentials(tls)
    # Loopback, never through an http_proxy the pod's environment may name.
    options: list[tuple[str, str | int]] = [("grpc.enable_http_proxy", 0)]
    if credentials is None:
        channel = grpc.insecure_channel(target, options=options)
    else:
        if authority is not None:
            options.append(("grpc.ssl_target_name_override", authority))
        channel = grpc.secure_channel(target, credentials, options=options)
    with channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout_seconds
            )
        except grpc.RpcError as err:
            code = err.code() if isinstance(err, grpc.Call) else None
            return f"error: {code.name if code is not None else 'unknown'}"
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fundledger_platform.health_probe",
        description="Exit 0 when this pod's gRPC health service answers SERVING.",
    )
    parser.add_argument("--service", default="", help='gRPC service name ("" = the server)')
    parser.add_argument(
        "--authority", default=None, help="the name the server certificate is checked for"
    )
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds (default 2)")
    args = parser.parse_args(argv)
    port = env_int("GRPC_PORT", 0, min_value=1, max_value=65535)
    if port == 0:
        print("FUNDLEDGER_GRPC_PORT is not set", file=sys.stderr)
        return 1
    status = check(
        port,
        service=args.service,
        tls=TlsSettings.from_env(),
        authority=args.authority,
        timeout_seconds=args.timeout,
    )
    print(status)  # the kubelet keeps it in the probe's event on failure
    return 0 if status == "SERVING" else 1


if __name__ == "__main__":
    raise SystemExit(main())
