"""One clear message and one exit code for every failure, from gRPC errors to bad input.

FundLedger servers attach a `google.rpc.Status` to every refused call: an `ErrorInfo`
(reason + metadata, e.g. the actual version of a stream) and, for a bad field, a
`BadRequest` naming it (see fundledger_platform.errors). Those details are what an
operator needs, so they are printed under the one-line summary.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from enum import IntEnum
from typing import ParamSpec, TypeVar

import grpc
import typer
from fundledger_platform.errors import bad_request, error_info
from rich.markup import escape

from fundledger_cli.output import stderr_console


class ExitCode(IntEnum):
    """Exit codes scripts can branch on (documented in the README)."""

    OK = 0
    # The server refused for another reason, or a check failed (unhealthy stack,
    # blocked reallocation, checksum mismatch).
    FAILURE = 1
    # Bad input: usage, an unreadable or invalid file, INVALID_ARGUMENT from a server.
    USAGE = 2
    # A service could not be reached or did not answer in time.
    UNAVAILABLE = 3
    # A conflict: ABORTED (version), FAILED_PRECONDITION, ALREADY_EXISTS.
    CONFLICT = 4
    # NOT_FOUND.
    NOT_FOUND = 5
    # UNAUTHENTICATED: no token, or one the service refused (expired, wrong issuer, ...).
    UNAUTHENTICATED = 6
    # PERMISSION_DENIED: a valid token whose roles lack the permission the call needs.
    PERMISSION_DENIED = 7


class CliError(Exception):
    """A failure to report: a one-line message, detail lines, and the exit code."""

    def __init__(
        self, message: str, exit_code: ExitCode = ExitCode.FAILURE, details: list[str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.details = details or []


_EXIT_CODES: dict[grpc.StatusCode, ExitCode] = {
    grpc.StatusCode.INVALID_ARGUMENT: ExitCode.USAGE,
    grpc.StatusCode.OUT_OF_RANGE: ExitCode.USAGE,
    grpc.StatusCode.UNAVAILABLE: ExitCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED: ExitCode.UNAVAILABLE,
    grpc.StatusCode.ABORTED: ExitCode.CONFLICT,
    grpc.StatusCode.FAILED_PRECONDITION: ExitCode.CONFLICT,
    grpc.StatusCode.ALREADY_EXISTS: ExitCode.CONFLICT,
    grpc.StatusCode.NOT_FOUND: ExitCode.NOT_FOUND,
    grpc.StatusCode.UNAUTHENTICATED: ExitCode.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED: ExitCode.PERMISSION_DENIED,
}

# What to do about a refused credential (the reason and the permission come from ErrorInfo).
_AUTH_HINTS: dict[grpc.StatusCode, str] = {
    grpc.StatusCode.UNAUTHENTICATED: (
        "the service did not accept the token: give a valid one (--token, --token-file, "
        "FUNDLEDGER_TOKEN, FUNDLEDGER_TOKEN_FILE; `fundledger auth token` mints one for a "
        "local stack)"
    ),
    grpc.StatusCode.PERMISSION_DENIED: (
        "the token is valid but its roles do not grant the permission this call needs"
    ),
}


def rpc_failure(
    err: grpc.RpcError,
    service: str,
    address: str,
    timeout: float,
    how: list[str] | None = None,
) -> CliError:
    """A failed call as a CliError: status code, the server's message, and its details.

    ``how`` says how the CLI called (TLS, which token source; never the token itself), shown
    when the call failed for want of a connection or a credential."""
    how = how or []
    code: grpc.StatusCode = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
    text: str = (err.details() if hasattr(err, "details") else None) or ""
    exit_code = _EXIT_CODES.get(code, ExitCode.FAILURE)
    info = error_info(err)
    # Without a FundLedger ErrorInfo, UNAVAILABLE / DEADLINE_EXCEEDED come from the channel
    # (nothing listening, no answer in time); with one, the service itself said so.
    if info is None and code is grpc.StatusCode.UNAVAILABLE:
        return CliError(
            f"cannot reach {service} at {address} (UNAVAILABLE: {text})",
            exit_code,
            [
                "is the stack running? `fundledger stack status` checks every service;",
                "--stack-dir, FUNDLEDGER_STACK_DIR or a per-service option picks the address",
                *how,
            ],
        )
    if info is None and code is grpc.StatusCode.DEADLINE_EXCEEDED:
        return CliError(
            f"{service} at {address} did not answer within {timeout:g}s (DEADLINE_EXCEEDED)",
            exit_code,
            ["--timeout gives it longer"],
        )
    details: list[str] = []
    if info is not None:
        details.append(f"reason: {info.reason}")
        details.extend(f"{key}: {info.metadata[key]}" for key in sorted(info.metadata))
    request = bad_request(err)
    if request is not None:
        details.extend(f"field {v.field}: {v.description}" for v in request.field_violations)
    hint = _AUTH_HINTS.get(code)
    if hint is not None:
        details.extend([hint, *how])
    return CliError(f"{service} refused the call: {code.name}: {text}", exit_code, details)


def report(err: CliError) -> None:
    console = stderr_console()
    console.print(
        f"[bold red]error:[/] {escape(err.message)}", markup=True, highlight=False, soft_wrap=True
    )
    for line in err.details:
        console.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)


P = ParamSpec("P")
R = TypeVar("R")


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Decorate a command: a CliError becomes its message on stderr and its exit code."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except CliError as err:
            report(err)
            raise typer.Exit(int(err.exit_code)) from None

    return wrapper
