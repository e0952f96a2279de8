"""The local stack's PostgreSQL roles: per service schema an owner that runs the migrations and
a login role for the service, granted its own schema only.

For schema ``s``:

- ``s_owner`` (LOGIN) owns the schema and everything in it; the stack runs the service's
  migrations as this role.
- ``s_service`` (LOGIN) is what the service runs as: USAGE on ``s`` and the DML, sequence and
  function rights on what the owner creates (default privileges cover later migrations). No
  other schema is visible to it, so only the event store's role can write ``eventstore.*``.
  A service that changes its own tables while it runs (ServiceAccess.runtime_ddl: the event
  store's day partitions and TimescaleDB policies, the projector's rebuild swap) must act as
  the owner, since PostgreSQL lets only a table's owner attach, rename or drop it: its role is
  a member of the owner's and its sessions start as the owner (``SET ROLE``), so the tables it
  creates belong to the owner and later migrations can still alter them.

Passwords come from StackCredentials and reach PostgreSQL as SCRAM verifiers only (made here),
so no plaintext password is ever in a statement, a server log line or a process list. The
cluster is started with password authentication (PostgresServer(password_auth=True)).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from fundledger_devstack.access import ServiceAccess
from fundledger_devstack.credentials import StackCredentials
from fundledger_devstack.postgres import APP_DATABASE, PostgresServer

_SCRAM_ITERATIONS = 4096


@dataclass(frozen=True)
class DatabaseLogin:
    role: str
    password: str

    def dsn(self, server: PostgresServer, database: str = APP_DATABASE) -> str:
        return f"postgresql://{self.role}:{self.password}@{server.host}:{server.port}/{database}"


@dataclass(frozen=True)
class SchemaLogins:
    schema: str
    owner: DatabaseLogin
    service: DatabaseLogin


def owner_role(schema: str) -> str:
    return f"{schema}_owner"


def service_role(schema: str) -> str:
    return f"{schema}_service"


def scram_verifier(password: str, salt: bytes | None = None) -> str:
    """What PostgreSQL stores for a SCRAM-SHA-256 password (RFC 5802/7677); ALTER ROLE ...
    PASSWORD accepts it as is, and the plaintext never leaves this process."""
    salt = salt or secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, _SCRAM_ITERATIONS)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.digest(salted, b"Server Key", "sha256")

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    return f"SCRAM-SHA-256${_SCRAM_ITERATIONS}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def logins_for(schema: str, credentials: StackCredentials) -> SchemaLogins:
    owner, service = owner_role(schema), service_role(schema)
    return SchemaLogins(
        schema,
        DatabaseLogin(owner, credentials.password(f"pg-{owner.replace('_', '-')}")),
        DatabaseLogin(service, credentials.password(f"pg-{service.replace('_', '-')}")),
    )


def _ensure_role(role: str, password: str) -> str:
    verifier = scram_verifier(password)
    return f"""
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
    CREATE ROLE {role} LOGIN;
  END IF;
END $$;
ALTER ROLE {role} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS
  PASSWORD '{verifier}';
GRANT CONNECT ON DATABASE {APP_DATABASE} TO {role};
"""


def _take_ownership(schema: str, owner: str) -> str:
    # A stack directory kept from before these roles existed has the schema and its tables
    # owned by the superuser: hand them to the owner (what a fresh one would have).
    return f"""
CREATE SCHEMA IF NOT EXISTS {schema} AUTHORIZATION {owner};
ALTER SCHEMA {schema} OWNER TO {owner};
DO $$ DECLARE r record; BEGIN
  FOR r IN
    SELECT c.oid::regclass AS name, c.relkind FROM pg_class c
    WHERE c.relnamespace = '{schema}'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
      AND c.relowner <> '{owner}'::regrole
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                      AND d.objid = c.oid AND d.deptype IN ('a', 'i'))
  LOOP
    EXECUTE format('ALTER %s %s OWNER TO {owner}',
      CASE r.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW'
        WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END,
      r.name);
  END LOOP;
  FOR r IN SELECT p.oid::regprocedure AS name FROM pg_proc p
    WHERE p.pronamespace = '{schema}'::regnamespace AND p.proowner <> '{owner}'::regrole
  LOOP
    EXECUTE format('ALTER ROUTINE %s OWNER TO {owner}', r.name);
  END LOOP;
END $$;
"""


def _grant_service(schema: str, owner: str, service: str, runtime_ddl: bool) -> str:
    dml = "SELECT, INSERT, UPDATE, DELETE"
    sql = f"""
REVOKE ALL ON SCHEMA {schema} FROM PUBLIC;
GRANT USAGE ON SCHEMA {schema} TO {service};
GRANT {dml} ON ALL TABLES IN SCHEMA {schema} TO {service};
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {schema} TO {service};
GRANT EXECUTE ON ALL ROUTINES IN SCHEMA {schema} TO {service};
ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {schema} GRANT {dml} ON TABLES TO {service};
ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {schema}
  GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {service};
ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {schema} GRANT EXECUTE ON ROUTINES TO {service};
"""
    if runtime_ddl:
        sql += f"""
GRANT {owner} TO {service};
ALTER ROLE {service} SET role = '{owner}';
"""
    else:
        sql += f"""
REVOKE {owner} FROM {service};
ALTER ROLE {service} RESET role;
"""
    return sql


def ensure_roles(
    server: PostgresServer, services: Iterable[ServiceAccess], credentials: StackCredentials
) -> dict[str, SchemaLogins]:
    """Create or update every role, schema ownership and grant; return the logins by service.
    Idempotent: run at every start, before the migrations."""
    logins: dict[str, SchemaLogins] = {}
    sql = [
        # Nobody but the roles named here may connect, or create anything in `public`.
        f"REVOKE ALL ON DATABASE {APP_DATABASE} FROM PUBLIC;",
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC;",
    ]
    for access in services:
        if access.schema is None:
            continue
        found = logins_for(access.schema, credentials)
        logins[access.service] = found
        owner, service = found.owner.role, found.service.role
        sql.append(_ensure_role(owner, found.owner.password))
        sql.append(_ensure_role(service, found.service.password))
        # The migrations' own `CREATE SCHEMA IF NOT EXISTS` needs CREATE on the database.
        sql.append(f"GRANT CREATE ON DATABASE {APP_DATABASE} TO {owner};")
        sql.append(_take_ownership(access.schema, owner))
        sql.append(_grant_service(access.schema, owner, service, access.runtime_ddl))
        if access.service == "event-store":
            # Its open-transaction gauge reads every session's xact_start (FM-2); its storage
            # mode depends on shared_preload_libraries, readable with pg_read_all_settings.
            sql.append(f"GRANT pg_read_all_stats, pg_read_all_settings TO {owner}, {service};")
    if server.timescale_available:
        # Only a superuser may create it; the event store's migration then finds it there.
        sql.append("CREATE EXTENSION IF NOT EXISTS timescaledb;")
    server.psql_script("\n".join(sql), database=APP_DATABASE)
    return logins
