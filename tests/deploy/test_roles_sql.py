"""The roles Job's SQL (`roles.sql` of the timescaledb-roles ConfigMap), run as the Job runs it
(psql, one transaction, passwords from the environment) against a real PostgreSQL with password
logins: the roles log in with their Secrets' passwords, the migrations run as the owners, and
each service role reaches its own schema only. It runs twice (every apply runs it again) and
converts a schema the superuser created before these roles existed."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from eventstore import bootstrap as eventstore_bootstrap
from fundledger_devstack.access import ACCESS
from fundledger_devstack.ports import free_port
from fundledger_devstack.postgres import APP_DATABASE, PostgresServer
from projector import bootstrap as projector_bootstrap
from snapshotter import bootstrap as snapshotter_bootstrap
from storage import bootstrap as storage_bootstrap

from tests.deploy.k8s_access import database_services, role_password_env, roles_of
from tests.deploy.manifest_support import of_kind, resources_of

MIGRATE = {
    "event-store": eventstore_bootstrap.migrate,
    "projector": projector_bootstrap.migrate,
    "snapshotter": snapshotter_bootstrap.migrate,
    "storage": storage_bootstrap.migrate,
}


def password_of(role: str) -> str:
    return f"pw-{role}-k8s"


class Database:
    def __init__(self, server: PostgresServer) -> None:
        self.server = server

    def url(self, role: str, password: str | None = None) -> str:
        secret = password or password_of(role)
        return f"postgresql://{role}:{secret}@{self.server.host}:{self.server.port}/{APP_DATABASE}"

    def run_roles_sql(self, sql_file: Path) -> None:
        """What the Job runs: psql -X -q -v ON_ERROR_STOP=1 -1 -f roles.sql, as the superuser
        (here through the unix socket: the server takes passwords only over TCP)."""
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        for access in database_services().values():
            for role in roles_of(access):
                env[role_password_env(role)] = password_of(role)
        argv = [self.server.install.tool("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-1"]
        argv += ["-h", str(self.server.data_dir), "-p", str(self.server.port)]
        argv += ["-U", "postgres", "-d", APP_DATABASE, "-f", str(sql_file)]
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    base = tmp_path_factory.mktemp("roles-sql")
    server = PostgresServer(base / "postgres", free_port(), password_auth=True)
    server.start()
    try:
        major = int(server.install.major_version)
        if major < 15:
            pytest.skip(f"psql {major} has no \\getenv (the Job's image has 16)")
        # Every statement logged, so the test below sees whether a password would be.
        server.psql("ALTER SYSTEM SET log_statement = 'all'")
        server.psql("SELECT pg_reload_conf()")
        # A database from before the roles: a schema and a table the superuser owns.
        server.psql_script(
            "CREATE SCHEMA snapshotter; CREATE TABLE snapshotter.legacy (id int);",
            database=APP_DATABASE,
        )
        sql = of_kind(resources_of("base"), "ConfigMap")["timescaledb-roles"]["data"]["roles.sql"]
        if not server.timescale_available:
            sql = sql.replace("CREATE EXTENSION IF NOT EXISTS timescaledb;\n", "")
        sql_file = base / "roles.sql"
        sql_file.write_text(sql)
        db = Database(server)
        db.run_roles_sql(sql_file)
        db.run_roles_sql(sql_file)  # idempotent: every apply runs it again
        yield db
    finally:
        server.stop()


async def test_migrations_run_as_the_owners_and_tables_stay_theirs(database: Database) -> None:
    for name, access in database_services().items():
        owner, _ = roles_of(access)
        await MIGRATE[name](database.url(owner))
    conn = await asyncpg.connect(database.url("snapshotter_owner"))
    try:
        rows = await conn.fetch(
            """SELECT n.nspname AS schema, c.relname, pg_get_userbyid(c.relowner) AS owner
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = ANY($1::text[]) AND c.relkind IN ('r', 'p', 'S', 'v')""",
            [a.schema for a in database_services().values()],
        )
    finally:
        await conn.close()
    assert {r["schema"] for r in rows} == {a.schema for a in database_services().values()}
    for row in rows:
        assert row["owner"] == f"{row['schema']}_owner", dict(row)
    assert any(r["relname"] == "legacy" for r in rows)  # the superuser's table was handed over


async def test_each_service_role_reaches_its_own_schema_only(database: Database) -> None:
    for name, access in database_services().items():
        await MIGRATE[name](database.url(roles_of(access)[0]))  # no-op when already applied
    schemas = {a.schema for a in database_services().values()}
    for name, access in database_services().items():
        _, service = roles_of(access)
        conn = await asyncpg.connect(database.url(service))
        try:
            # The migrate-up-first of a start with nothing pending: reads schema_migrations.
            assert await conn.fetchval(f"SELECT count(*) FROM {access.schema}.schema_migrations")
            for other in schemas - {access.schema}:
                assert not await conn.fetchval("SELECT has_schema_privilege($1, 'USAGE')", other), (
                    f"{service} uses {other}"
                )
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute("CREATE TABLE public.intruder (id int)")
            expected_user = f"{access.schema}_owner" if access.runtime_ddl else service
            assert await conn.fetchval("SELECT current_user") == expected_user, name
            if not access.runtime_ddl:
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await conn.execute(f"CREATE TABLE {access.schema}.intruder (id int)")
        finally:
            await conn.close()
    conn = await asyncpg.connect(database.url("projector_service"))
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("SELECT 1 FROM eventstore.events LIMIT 1")
    finally:
        await conn.close()


async def test_roles_log_in_with_their_secrets_password_only(database: Database) -> None:
    for access in database_services().values():
        for role in roles_of(access):
            conn = await asyncpg.connect(database.url(role))
            await conn.close()
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(database.url("storage_service", password_of("storage_owner")))
    ours = [role for access in database_services().values() for role in roles_of(access)]
    listed = ", ".join(f"'{role}'" for role in ours)
    count = f"SELECT count(*) FROM pg_roles WHERE rolname IN ({listed})"
    assert database.server.psql(count, database=APP_DATABASE) == str(len(ours))
    rights = "rolsuper OR rolcreatedb OR rolcreaterole OR rolbypassrls"
    assert database.server.psql(f"{count} AND ({rights})", database=APP_DATABASE) == "0"


def test_no_password_reaches_the_server_log(database: Database) -> None:
    """The server logs every statement, yet the roles Job's turn logging off for its session."""
    log = database.server.log_path.read_text(errors="replace")
    assert "CREATE SCHEMA snapshotter" in log  # statements are logged
    for access in ACCESS.values():
        if access.schema is None:
            continue
        for role in roles_of(access):
            assert password_of(role) not in log
