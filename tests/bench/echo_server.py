"""The gRPC baseline server: `python -m tests.bench.echo_server PORT [--bare]`.

Serves the platform's unary echo and, beside it, a server-streaming "repeat"
(N copies of a pre-built message: what streaming N messages costs with no work
per message, the baseline of a stream read). By default they run in the
platform's server shape (the same interceptors, health and reflection as every
FundLedger service), so the difference between an event-store call and a
baseline call is the event store's own work. `--bare` serves them from a plain
grpc.aio server, to show what the platform's interceptors cost. On a secure run both
serve TLS (FUNDLEDGER_TLS_*), and the platform echo verifies the clients' token. Either way on the
services' event loop (FUNDLEDGER_EVENT_LOOP), so the baseline's loop is theirs.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import grpc
from fundledger_platform.auth.settings import AuthSettings
from fundledger_platform.event_loop import run_on_event_loop
from fundledger_platform.server import build_server, serve_until_signal
from fundledger_platform.settings import TlsSettings, event_loop_from_env

from tests.support.echo import ECHO_SERVICE, register_echo
from tests.support.server_settings import loopback_server_settings

REPEAT_SERVICE = "fundledger.bench.v1.Repeat"
REPEAT_METHOD = f"/{REPEAT_SERVICE}/Repeat"
MAX_REPEAT = 100_000


def repeat_request(count: int, payload: bytes) -> bytes:
    """Ask for `count` copies of `payload` (4-byte big-endian count, then the payload)."""
    return count.to_bytes(4, "big") + payload


async def _repeat(request: bytes, context: Any) -> AsyncIterator[bytes]:
    payload = request[4:]
    for _ in range(min(int.from_bytes(request[:4], "big"), MAX_REPEAT)):
        yield payload


def _identity(data: bytes) -> bytes:
    return data


def register_baselines(server: grpc.aio.Server) -> None:
    register_echo(server)
    handler = grpc.unary_stream_rpc_method_handler(
        _repeat, request_deserializer=_identity, response_serializer=_identity
    )
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler(REPEAT_SERVICE, {"Repeat": handler})]
    )


async def _serve_platform(port: int) -> None:
    # TLS and token verification from the environment when the run is secure (tests/bench/
    # stack.py sets them), like the services it is the baseline of.
    settings = replace(
        loopback_server_settings("bench-echo", grpc_port=port, shutdown_grace_seconds=1.0),
        tls=TlsSettings.from_env(),
        auth=AuthSettings.from_env("fundledger-event-store"),
    )
    server = build_server(
        settings, register=register_baselines, service_names=[ECHO_SERVICE, REPEAT_SERVICE]
    )
    await serve_until_signal(server)


async def _serve_bare(port: int) -> None:
    server = grpc.aio.server()
    register_baselines(server)
    tls = TlsSettings.from_env()
    if tls.cert_file is not None and tls.key_file is not None:
        pair = (tls.key_file.read_bytes(), tls.cert_file.read_bytes())
        server.add_secure_port(f"127.0.0.1:{port}", grpc.ssl_server_credentials([pair]))
    else:
        server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    # Ends on SIGTERM (the default action); nothing to drain for an echo.
    await server.wait_for_termination()


def main(argv: list[str]) -> int:
    if not argv or not argv[0].isdigit() or argv[1:] not in ([], ["--bare"]):
        print("usage: python -m tests.bench.echo_server PORT [--bare]", file=sys.stderr)
        return 2
    serve = _serve_bare if argv[1:] == ["--bare"] else _serve_platform
    run_on_event_loop(serve(int(argv[0])), event_loop_from_env())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
