"""Services started inside a test the way the local stack runs them: TLS from the stack's CA,
bearer tokens from its dev issuer, the repository's policy file.

    settings = secure.server_settings(loopback_server_settings("projector"))
    async with secure.channel(address, secure.token(roles=("fund-viewer",))) as channel: ...

A service under test that calls the event store sends its own service token:
``secure.service_token("projector")`` (a TokenSource re-reading the stack's token file).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import grpc
import pytest
from fundledger_devstack.security import StackSecurity, audience_of
from fundledger_platform.auth.authorization import AuthorizationSettings
from fundledger_platform.auth.client import TokenSource
from fundledger_platform.auth.settings import AuthSettings, load_issuers
from fundledger_platform.settings import ServerSettings, TlsSettings

# gRPC would route even 127.0.0.1 through an http_proxy from the environment.
CHANNEL_OPTIONS = (("grpc.enable_http_proxy", 0),)


@dataclass(frozen=True)
class SecureEnv:
    security: StackSecurity

    def server_settings(self, settings: ServerSettings) -> ServerSettings:
        """``settings`` with TLS, authentication (this service's audience) and the policy on;
        calls it makes to the event store use TLS trusting the stack's CA."""
        security = self.security
        return replace(
            settings,
            tls=TlsSettings(
                cert_file=security.server.cert,
                key_file=security.server.key,
                ca_file=security.ca_file,
            ),
            auth=AuthSettings(
                audience=audience_of(settings.service_name),
                issuers=load_issuers(security.issuer.issuers_path),
            ),
            authorization=AuthorizationSettings(security.policy_file, check_seconds=0.5),
        )

    def client_tls(self) -> TlsSettings:
        """What a service under test needs to call another over TLS."""
        return TlsSettings(ca_file=self.security.ca_file)

    def token(
        self,
        subject: str = "alice",
        *,
        roles: Sequence[str] = ("admin",),
        tenant: str | None = "dev",
        ttl_seconds: float = 3600,
    ) -> str:
        """A person's token accepted by every service."""
        return self.security.mint_person(
            subject, roles=roles, tenant=tenant, ttl_seconds=ttl_seconds
        )

    def operator_token(self) -> str:
        """An administrator bound to no tenant (a service identity with role admin)."""
        return self.security.mint_operator()

    def service_token(self, service: str) -> TokenSource:
        """The token ``service`` sends when it calls the event store."""
        return TokenSource.from_file(self.security.token_file(service))

    def credentials(self, token: str | None) -> grpc.ChannelCredentials:
        return self.security.channel_credentials(token)

    def channel(self, address: str, token: str | None = "") -> grpc.aio.Channel:
        """A grpc.aio TLS channel to ``address``; every call carries ``token`` (by default an
        admin's of tenant "dev"; None: no token at all)."""
        if token == "":
            token = self.token()
        return grpc.aio.secure_channel(
            address, self.credentials(token), options=list(CHANNEL_OPTIONS)
        )

    def sync_channel(self, address: str, token: str | None = "") -> grpc.Channel:
        if token == "":
            token = self.token()
        return grpc.secure_channel(address, self.credentials(token), options=list(CHANNEL_OPTIONS))


def make_secure_env(root: Path) -> SecureEnv:
    return SecureEnv(StackSecurity.ensure(root))


@pytest.fixture(scope="session")
def secure_env(tmp_path_factory: pytest.TempPathFactory) -> SecureEnv:
    """One CA, dev issuer and set of service tokens for the whole test session."""
    return make_secure_env(tmp_path_factory.mktemp("security"))
