"""What every command gets from the root options: endpoints, deadline, channels."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import grpc
import typer

from fundledger_cli.endpoints import Endpoints
from fundledger_cli.errors import CliError, ExitCode, rpc_failure

# gRPC would route even 127.0.0.1 through an http_proxy from the environment.
_CHANNEL_OPTIONS = [
    ("grpc.enable_http_proxy", 0),
    # Download chunks are up to 3 MiB; leave room for the record beside them.
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
]


@dataclass(frozen=True)
class CliContext:
    endpoints: Endpoints
    # Deadline of every RPC, in seconds (file transfers have their own, longer one).
    timeout: float

    @contextmanager
    def connect(self, service: str, timeout: float | None = None) -> Iterator[grpc.Channel]:
        """A channel to `service`; a failed call inside becomes a CliError naming it."""
        address = self.endpoints.address(service)
        with grpc.insecure_channel(address, options=_CHANNEL_OPTIONS) as channel:
            try:
                yield channel
            except grpc.RpcError as err:
                raise rpc_failure(err, service, address, timeout or self.timeout) from None


def cli_context(ctx: typer.Context) -> CliContext:
    obj = ctx.find_root().obj
    if not isinstance(obj, CliContext):
        raise CliError("internal: the root options were not parsed", ExitCode.FAILURE)
    return obj
