"""The local stack's security material: a CA and certificates, the dev token issuer, service
tokens and the policy file, all under the stack directory, and the settings that turn TLS,
authentication and authorization on in every service.

The local stack is secure by default (`make run`, the test stacks): every service serves TLS
with a certificate from the local CA, verifies bearer tokens from the dev issuer and checks the
policy file; every service calling the event store sends a service token of its own. Clients
(CLI, demo, load test, bench) trust ``ca_file`` and send a token from ``mint_person``.

Layout under the stack directory::

    tls/ca.crt, ca.key            the local CA (made once)
    tls/server.crt, server.key    the services' certificate (localhost, 127.0.0.1, ::1)
    auth/                         the dev issuer (keys, jwks.json, issuers.json)
    auth/tokens/<service>.jwt     each service's own token, renewed at every start

See docs/security.md.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import grpc

from fundledger_devstack.dev_issuer import DevIssuer
from fundledger_devstack.health import tls_credentials
from fundledger_devstack.local_ca import CertFiles, ensure_ca, issue_server_cert

__all__ = [
    "AUDIENCES",
    "DEFAULT_POLICY_FILE",
    "SERVICE_TOKEN_TTL_SECONDS",
    "StackSecurity",
    "audience_of",
]

POLICY_VAR = "FUNDLEDGER_STACK_POLICY_FILE"
# The repository's policy file (this file is libs/devstack/src/fundledger_devstack/...).
DEFAULT_POLICY_FILE = Path(__file__).resolve().parents[4] / "deploy" / "policy.yaml"
SERVICE_NAMES = ("event-store", "projector", "snapshotter", "allocation", "storage")
AUDIENCES = tuple(f"fundledger-{name}" for name in SERVICE_NAMES)
# The dev issuer's longest life; Stack.wait renews the files well before.
SERVICE_TOKEN_TTL_SECONDS = 24 * 3600
DEV_TENANT = "dev"


def audience_of(service: str) -> str:
    """The audience a service's tokens must carry (the default of FUNDLEDGER_AUTH_AUDIENCE)."""
    return f"fundledger-{service}"


@dataclass(frozen=True)
class StackSecurity:
    """Paths of one stack's security material (``ensure`` makes it, ``load`` finds it)."""

    stack_dir: Path
    policy_file: Path

    @property
    def tls_dir(self) -> Path:
        return self.stack_dir / "tls"

    @property
    def ca_file(self) -> Path:
        return self.tls_dir / "ca.crt"

    @property
    def server(self) -> CertFiles:
        return CertFiles(self.tls_dir / "server.crt", self.tls_dir / "server.key", 0)

    @cached_property
    def issuer(self) -> DevIssuer:
        # Once per StackSecurity: a DevIssuer looks at (and may create) its key directory.
        return DevIssuer(self.stack_dir / "auth")

    @property
    def tokens_dir(self) -> Path:
        return self.stack_dir / "auth" / "tokens"

    def token_file(self, service: str) -> Path:
        return self.tokens_dir / f"{service}.jwt"

    @classmethod
    def ensure(cls, stack_dir: Path, policy_file: Path | None = None) -> StackSecurity:
        """Make what is missing (CA, issuer) and renew what expires (certificate, tokens)."""
        policy = policy_file or Path(os.environ.get(POLICY_VAR) or DEFAULT_POLICY_FILE)
        if not policy.is_file():
            raise FileNotFoundError(f"policy file {policy} not found (set {POLICY_VAR})")
        security = cls(stack_dir.absolute(), policy.absolute())
        ensure_ca(security.tls_dir)
        issue_server_cert(security.tls_dir, stem="server")
        security.issuer.write_issuers_file()
        security.renew_service_tokens()
        security._marker.write_text("TLS, authentication and authorization on\n")
        return security

    @property
    def _marker(self) -> Path:
        # Present while the stack of this directory runs secure: clients go by it, not by the
        # certificates, which stay on disk when the stack is restarted in plaintext.
        return self.stack_dir / "secure"

    @classmethod
    def deactivate(cls, stack_dir: Path) -> None:
        """The stack of ``stack_dir`` runs in plaintext now (keys and CA are kept)."""
        (stack_dir / "secure").unlink(missing_ok=True)

    @classmethod
    def load(cls, stack_dir: Path) -> StackSecurity | None:
        """The material of a stack made secure by ``ensure``; None for a plaintext stack."""
        security = cls(stack_dir.absolute(), DEFAULT_POLICY_FILE)
        if not (security._marker.is_file() and security.ca_file.is_file()):
            return None
        return security

    def renew_service_tokens(self) -> None:
        """Each service's own token (subject ``fundledger-<name>``, role ``svc-<name>``), for
        calls to the event store. Services re-read the file when it changes."""
        self.tokens_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        issuer = self.issuer
        for service in SERVICE_NAMES:
            token = issuer.mint(
                f"fundledger-{service}",
                audience_of("event-store"),
                roles=[f"svc-{service}"],
                kind="service",
                ttl_seconds=SERVICE_TOKEN_TTL_SECONDS,
            )
            path = self.token_file(service)
            temporary = path.with_name(f".{path.name}.tmp")
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(token + "\n")
            os.replace(temporary, path)

    def service_env(self, service: str) -> dict[str, str]:
        """The FUNDLEDGER_* settings that make ``service`` secure (TLS, authentication,
        authorization, its own token for calls to the event store)."""
        return {
            "FUNDLEDGER_TLS_CERT_FILE": str(self.server.cert),
            "FUNDLEDGER_TLS_KEY_FILE": str(self.server.key),
            "FUNDLEDGER_TLS_CA_FILE": str(self.ca_file),
            "FUNDLEDGER_AUTH_ENABLED": "true",
            "FUNDLEDGER_AUTH_ISSUERS_FILE": str(self.issuer.issuers_path),
            "FUNDLEDGER_AUTH_POLICY_FILE": str(self.policy_file),
            "FUNDLEDGER_AUTH_TOKEN_FILE": str(self.token_file(service)),
            "FUNDLEDGER_REFLECTION": "true",
        }

    def mint_person(
        self,
        subject: str = "dev",
        *,
        roles: Sequence[str] = ("admin",),
        tenant: str | None = DEV_TENANT,
        ttl_seconds: float = 3600,
        audiences: Sequence[str] = AUDIENCES,
    ) -> str:
        """A person's token valid at every service of the stack (one token for a whole client)."""
        return self.issuer.mint(
            subject, list(audiences), roles=roles, tenant=tenant, ttl_seconds=ttl_seconds
        )

    def mint_operator(self, subject: str = "fundledger-operator", ttl_seconds: float = 600) -> str:
        """An operator's token: a service identity with role admin, bound to no tenant (whole
        table rebuilds, cross-tenant maintenance). Dev and tests only."""
        return self.issuer.mint(
            subject, list(AUDIENCES), roles=["admin"], kind="service", ttl_seconds=ttl_seconds
        )

    def channel_credentials(self, token: str | None = None) -> grpc.ChannelCredentials:
        """TLS trusting the stack's CA, plus ``token`` on every call when given (works for sync
        and grpc.aio channels alike)."""
        tls = tls_credentials(self.ca_file)
        if token is None:
            return tls
        return grpc.composite_channel_credentials(tls, grpc.access_token_call_credentials(token))
