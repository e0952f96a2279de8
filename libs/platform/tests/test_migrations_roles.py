"""Migrations under least privilege: the schema owner applies them; a service role that may
only read and write the tables still starts (it migrates up first) when nothing is pending,
and is refused, not silently skipped, when something is."""

from __future__ import annotations

import uuid
from pathlib import Path

import asyncpg
import pytest
from fundledger_platform.migrations import run_migrations


def _write(folder: Path, version: int, up: str) -> None:
    (folder / f"{version:04d}_step{version}.up.sql").write_text(up)
    (folder / f"{version:04d}_step{version}.down.sql").write_text("SELECT 1;")


async def test_a_dml_only_role_migrates_up_when_nothing_is_pending(
    fresh_dsn: str, tmp_path: Path
) -> None:
    schema = f"lp_{uuid.uuid4().hex[:8]}"
    role = f"{schema}_service"
    _write(tmp_path, 1, f"CREATE SCHEMA IF NOT EXISTS {schema}; CREATE TABLE {schema}.t (id int);")
    assert await run_migrations(fresh_dsn, tmp_path, schema) == 1
    admin = await asyncpg.connect(fresh_dsn)
    try:
        await admin.execute(
            f"CREATE ROLE {role} LOGIN; GRANT USAGE ON SCHEMA {schema} TO {role}; "
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}"
        )
        # The test cluster trusts loopback logins: the role's name is its whole login.
        service_dsn = fresh_dsn.replace("postgres@", f"{role}@", 1)
        assert await run_migrations(service_dsn, tmp_path, schema) == 0

        _write(tmp_path, 2, f"CREATE TABLE {schema}.u (id int);")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await run_migrations(service_dsn, tmp_path, schema)
        assert await run_migrations(fresh_dsn, tmp_path, schema) == 1
    finally:
        await admin.close()
