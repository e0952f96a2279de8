"""What every command gets from the root options: endpoints, deadline, access, channels."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import grpc
import typer

from fundledger_cli.access import Access, resolve_access
from fundledger_cli.endpoints import Endpoints
from fundledger_cli.errors import CliError, ExitCode, rpc_failure

# gRPC would route even 127.0.0.1 through an http_proxy from the environment.
CHANNEL_OPTIONS: list[tuple[str, object]] = [
    ("grpc.enable_http_proxy", 0),
    # Download chunks are up to 3 MiB; leave room for the record beside them.
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
]


@dataclass(frozen=True)
class CliContext:
    endpoints: Endpoints
    # Deadline of every RPC, in seconds (file transfers have their own, longer one).
    timeout: float
    # The stack dir and the credential options, resolved into `access` on first use (so a
    # bad token file fails the commands that call, not `auth token` or `--help`).
    stack_dir: Path
    token: str | None = None
    token_file: Path | None = None
    ca_file: Path | None = None

    @cached_property
    def access(self) -> Access:
        """TLS trust and bearer token (fundledger_cli.access); CliError when unusable."""
        return resolve_access(
            self.stack_dir, token=self.token, token_file=self.token_file, ca_file=self.ca_file
        )

    @contextmanager
    def connect(self, service: str, timeout: float | None = None) -> Iterator[grpc.Channel]:
        """A channel to `service` (TLS and a token when the stack is secure); a failed call
        inside becomes a CliError naming it."""
        address = self.endpoints.address(service)
        with self.access.channel(address, CHANNEL_OPTIONS) as channel:
            try:
                yield channel
            except grpc.RpcError as err:
                how = self.access.describe()
                raise rpc_failure(err, service, address, timeout or self.timeout, how) from None


def cli_context(ctx: typer.Context) -> CliContext:
    obj = ctx.find_root().obj
    if not isinstance(obj, CliContext):
        raise CliError("internal: the root options were not parsed", ExitCode.FAILURE)
    return obj
