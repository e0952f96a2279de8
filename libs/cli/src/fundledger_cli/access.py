"""How the CLI authenticates: which CA it trusts and which bearer token it sends.

Trust (TLS), first that applies:

1. ``--ca-file`` / ``FUNDLEDGER_CA_FILE``: a deployment's CA;
2. ``<stack dir>/tls/ca.crt`` when the stack dir holds a secure local stack (``make run``);
3. none: plaintext, for a stack started with ``FUNDLEDGER_STACK_SECURE=false``.

Token, first that is given (the command line before the environment):

1. ``--token``; 2. ``--token-file``; 3. ``FUNDLEDGER_TOKEN``; 4. ``FUNDLEDGER_TOKEN_FILE``;
5. a dev token the CLI mints itself from the local stack's dev issuer (admin of tenant "dev",
   five minutes, renewed while a long command runs): only for a secure local stack and only
   when no ``--ca-file`` names another deployment's CA;
6. none.

A token file is re-read when it changes, so a token refreshed by another process is picked up
during a long import. Tokens travel only over TLS: a token without TLS is a usage error, never
sent in plaintext. No token is ever printed (``fundledger auth token`` prints the one it mints,
and only that).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import grpc
from fundledger_devstack.security import StackSecurity
from fundledger_platform.auth.client import TokenSource

from fundledger_cli.errors import CliError, ExitCode

TOKEN_VAR = "FUNDLEDGER_TOKEN"
TOKEN_FILE_VAR = "FUNDLEDGER_TOKEN_FILE"
CA_FILE_VAR = "FUNDLEDGER_CA_FILE"
# The token the CLI mints for itself on a local stack: who, what, how long.
DEV_SUBJECT = "dev"
DEV_ROLES = ("admin",)
DEV_TENANT = "dev"
DEV_TTL_SECONDS = 300.0
# A minted token is replaced once it has less than this left (a call may last a while).
_RENEW_BEFORE_SECONDS = 60.0

TokenGetter = Callable[[], str]


class _DevTokens:
    """Short-lived dev tokens, minted on first use and again before each one expires."""

    def __init__(self, security: StackSecurity) -> None:
        self._security = security
        self._token = ""
        self._expires = 0.0

    def __call__(self) -> str:
        now = time.monotonic()
        if now > self._expires - _RENEW_BEFORE_SECONDS:
            self._token = self._security.mint_person(
                DEV_SUBJECT, roles=DEV_ROLES, tenant=DEV_TENANT, ttl_seconds=DEV_TTL_SECONDS
            )
            self._expires = now + DEV_TTL_SECONDS
        return self._token


class _Bearer(grpc.AuthMetadataPlugin):
    """``authorization: Bearer <token>`` on every call, the token asked for per call."""

    def __init__(self, token: TokenGetter) -> None:
        self._token = token

    def __call__(
        self, context: grpc.AuthMetadataContext, callback: grpc.AuthMetadataPluginCallback
    ) -> None:
        try:
            token = self._token()
        except Exception as err:  # gRPC wants any failure through the callback
            callback((), err)
            return
        callback((("authorization", f"Bearer {token}"),), None)


@dataclass(frozen=True)
class Access:
    """The CA trusted and the token sent; ``token_from`` and ``ca_from`` say where each came
    from (for messages: an option, a variable or a path, never the token)."""

    ca_file: Path | None
    token: TokenGetter | None
    token_from: str  # "--token", "FUNDLEDGER_TOKEN_FILE (/path)", "a dev token …", or ""
    ca_from: str

    @property
    def secure(self) -> bool:
        return self.ca_file is not None

    def tls(self) -> grpc.ChannelCredentials | None:
        """TLS alone (health checks need no token); None in plaintext."""
        if self.ca_file is None:
            return None
        return grpc.ssl_channel_credentials(_read(self.ca_file, "the CA file"))

    def credentials(self) -> grpc.ChannelCredentials | None:
        """TLS plus the token on every call; None in plaintext."""
        tls = self.tls()
        if tls is None or self.token is None:
            return tls
        call = grpc.metadata_call_credentials(_Bearer(self.token), name="fundledger-bearer")
        return grpc.composite_channel_credentials(tls, call)

    def channel(self, address: str, options: list[tuple[str, object]]) -> grpc.Channel:
        credentials = self.credentials()
        if credentials is None:
            return grpc.insecure_channel(address, options=options)
        return grpc.secure_channel(address, credentials, options=options)

    def describe(self) -> list[str]:
        """How the CLI called (for an error's detail lines)."""
        if self.ca_file is None:
            return ["called in plaintext (no CA: the stack dir holds no secure stack)"]
        lines = [f"called over TLS trusting {self.ca_file} ({self.ca_from})"]
        lines.append(f"sent the token from {self.token_from}" if self.token else "sent no token")
        return lines


def _read(path: Path, what: str) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as err:
        raise CliError(
            f"cannot read {what} {path}: {err.strerror or err}", ExitCode.USAGE
        ) from None
    if not data.strip():
        raise CliError(f"{what} {path} is empty", ExitCode.USAGE)
    return data


def _token_file(path: Path, named: str) -> tuple[TokenGetter, str]:
    _read(path, "the token file")  # a missing or empty file is a usage error now, not later
    source = TokenSource.from_file(path)
    return source.token, f"{named} ({path})"


def resolve_access(
    stack_dir: Path,
    *,
    token: str | None = None,
    token_file: Path | None = None,
    ca_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Access:
    """The CLI's trust and token from its options, the environment and the stack dir."""
    env = os.environ if environ is None else environ
    security = StackSecurity.load(stack_dir)
    ca_from = "--ca-file"
    if ca_file is None and env.get(CA_FILE_VAR):
        ca_file, ca_from = Path(env[CA_FILE_VAR]), CA_FILE_VAR
    local = ca_file is None and security is not None
    if local and security is not None:
        ca_file, ca_from = security.ca_file, "the local stack's CA"
    getter: TokenGetter | None = None
    token_from = ""
    if token:
        fixed = token.strip()
        getter, token_from = (lambda: fixed), "--token"
    elif token_file is not None:
        getter, token_from = _token_file(token_file, "--token-file")
    elif env.get(TOKEN_VAR, "").strip():
        fixed = env[TOKEN_VAR].strip()
        getter, token_from = (lambda: fixed), TOKEN_VAR
    elif env.get(TOKEN_FILE_VAR):
        getter, token_from = _token_file(Path(env[TOKEN_FILE_VAR]), TOKEN_FILE_VAR)
    elif local and security is not None:
        getter = _DevTokens(security)
        token_from = f"a dev token minted from {security.issuer.directory} (admin, tenant dev)"
    if getter is not None and ca_file is None:
        raise CliError(
            f"a token ({token_from}) is only ever sent over TLS, and no CA is known",
            ExitCode.USAGE,
            [f"--ca-file or {CA_FILE_VAR} names the deployment's CA"],
        )
    return Access(ca_file, getter, token_from, ca_from if ca_file is not None else "")
