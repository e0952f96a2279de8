"""Least privilege behind the services of a local stack: the credentials each one gets.

Before the servers start, the stack writes NATS's users (nats_auth.py) and gives S3 the storage
service's keys; once PostgreSQL is up it makes the roles (pg_roles.py). Then each service gets
Backends holding only what access.py grants it: its own database role (its schema owner's for
the migrations), its own NATS user and private inbox prefix, S3 keys for the storage service
alone. Every password is generated once and kept in ``<stack dir>/credentials/`` (0600).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

from fundledger_devstack.access import ACCESS, TOOL_USERS, access_of
from fundledger_devstack.credentials import StackCredentials
from fundledger_devstack.nats import NatsServer
from fundledger_devstack.nats_auth import credential_name, with_credentials, write_config
from fundledger_devstack.pg_roles import SchemaLogins, ensure_roles
from fundledger_devstack.postgres import APP_DATABASE, SUPERUSER, PostgresServer
from fundledger_devstack.s3 import S3Server
from fundledger_devstack.services import Backends, ServiceSpec

S3_ACCESS_KEY = "fundledger-storage"
S3_SECRET_NAME = "s3-fundledger-storage"


class StackAccess:
    def __init__(self, stack_dir: Path) -> None:
        self.credentials = StackCredentials(stack_dir)
        self.nats_config_path = stack_dir.absolute() / "nats.conf"
        self.logins: dict[str, SchemaLogins] = {}

    def s3_keys(self) -> tuple[str, str]:
        """The storage service's S3 keys: the only identity the S3 server knows."""
        return S3_ACCESS_KEY, self.credentials.password(S3_SECRET_NAME)

    def write_nats_config(self) -> Path:
        grants = [a.bus for a in ACCESS.values() if a.bus is not None] + list(TOOL_USERS)
        return write_config(self.nats_config_path, grants, self.credentials)

    def make_database_roles(
        self, postgres: PostgresServer, services: Iterable[ServiceSpec]
    ) -> None:
        accesses = [access_of(spec.name) for spec in services]
        self.logins = ensure_roles(postgres, accesses, self.credentials)

    def backends(
        self,
        spec: ServiceSpec,
        postgres: PostgresServer,
        nats: NatsServer,
        s3: S3Server,
        eventstore_address: str,
    ) -> Backends:
        access = access_of(spec.name)
        logins = self.logins.get(spec.name)
        nats_url = inbox = None
        if access.bus is not None:
            user = access.bus.user
            password = self.credentials.password(credential_name(user))
            nats_url, inbox = with_credentials(nats.url, user, password), access.bus.inbox_prefix
        return Backends(
            database_url=None if logins is None else logins.service.dsn(postgres),
            migration_database_url=None if logins is None else logins.owner.dsn(postgres),
            nats_url=nats_url,
            nats_inbox_prefix=inbox,
            s3_endpoint=s3.endpoint if access.s3 else None,
            s3_access_key=s3.access_key if access.s3 else None,
            s3_secret_key=s3.secret_key if access.s3 else None,
            eventstore_address=eventstore_address,
        )


def admin_dsn(stack_dir: Path, postgres_endpoint: str, database: str = APP_DATABASE) -> str:
    """The superuser's DSN for tests and operators on this machine: through the unix socket in
    the stack's PostgreSQL data dir (the only way in for it; every TCP login needs a password).
    ``postgres_endpoint`` is the stack's ``postgres`` entry of endpoints.json (for the port)."""
    port = urlsplit(postgres_endpoint).port
    socket_dir = stack_dir.absolute() / "postgres"
    return f"postgresql://{SUPERUSER}@/{database}?host={socket_dir}&port={port}"
