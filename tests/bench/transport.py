"""How the benchmark's clients reach the services: TLS plus a bearer token, as users run the
stack, unless a workload asks for plaintext.

The orchestrator puts the stack's CA and the client token in FUNDLEDGER_BENCH_CA_FILE and
FUNDLEDGER_BENCH_TOKEN_FILE before the client processes are spawned (they inherit them); in
target mode a user may set both for a secure target. Without them every channel is plaintext.
The same token goes on every call, as a real client sends it: the servers verify a token once
and cache the result until it expires, so what is measured is the steady state.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from functools import cache
from pathlib import Path

import grpc
from fundledger_devstack.health import tls_credentials

from tests.bench.workload_spec import CHANNEL_OPTIONS

CA_VAR = "FUNDLEDGER_BENCH_CA_FILE"
TOKEN_VAR = "FUNDLEDGER_BENCH_TOKEN_FILE"
# Set by the orchestrator when its echo baselines serve TLS (a secure local run): they are then
# called like the services, so a ratio to them compares the same transport.
ECHO_SECURE_VAR = "FUNDLEDGER_BENCH_ECHO_SECURE"


def echo_secure() -> bool:
    return os.environ.get(ECHO_SECURE_VAR) == "true" and secure_clients()


@cache
def _credentials() -> grpc.ChannelCredentials | None:
    ca_file, token_file = os.environ.get(CA_VAR), os.environ.get(TOKEN_VAR)
    if not ca_file or not token_file:
        return None
    tls = tls_credentials(Path(ca_file))
    token = Path(token_file).read_text().strip()
    return grpc.composite_channel_credentials(tls, grpc.access_token_call_credentials(token))


def secure_clients() -> bool:
    """Whether channels opened here use TLS and a token (unless asked for plaintext)."""
    return _credentials() is not None


def open_channel(
    endpoint: str, *, plaintext: bool = False, own_connection: bool = False
) -> grpc.aio.Channel:
    """A grpc.aio channel to ``endpoint``: TLS + token when configured and not ``plaintext``.

    ``own_connection``: its own TCP connection (channels of one process to one address
    otherwise share one), so the kernel may hand it to another worker of the service."""
    options = CHANNEL_OPTIONS + ([("grpc.use_local_subchannel_pool", 1)] if own_connection else [])
    credentials = None if plaintext else _credentials()
    if credentials is None:
        return grpc.aio.insecure_channel(endpoint, options=options)
    return grpc.aio.secure_channel(endpoint, credentials, options=options)


@contextlib.asynccontextmanager
async def open_channels(
    endpoint: str, count: int, *, plaintext: bool = False
) -> AsyncIterator[list[grpc.aio.Channel]]:
    """``count`` channels to ``endpoint``, each on its own connection when more than one."""
    async with contextlib.AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(
                open_channel(endpoint, plaintext=plaintext, own_connection=count > 1)
            )
            for _ in range(max(1, count))
        ]
