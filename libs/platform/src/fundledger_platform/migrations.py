"""Versioned SQL migrations, applied idempotently.

A service keeps `NNNN_name.up.sql` / `NNNN_name.down.sql` files in one folder. A
file may exist in variants (`NNNN_name.<variant>.up.sql`), and the caller picks
the variant once (the event store uses `native` or `timescale`); the variant a
migration was applied with is recorded so `down` runs the matching script.

Every run holds a transaction-scoped advisory lock, so replicas that start
together apply each migration exactly once; each migration runs in its own
transaction, so a failure leaves the schema at the last good version.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

log = logging.getLogger(__name__)

_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)(?:\.([a-z]+))?\.(up|down)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    up: str
    down: str
    variant: str | None

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.up.encode()).hexdigest()


class MigrationError(RuntimeError):
    pass


def load_migrations(folder: Path, variant: str | None = None) -> list[Migration]:
    """The migrations of `folder`, ordered, choosing `variant` files where they exist."""
    found: dict[int, dict[tuple[str | None, str], Path]] = {}
    names: dict[int, str] = {}
    for path in sorted(folder.glob("*.sql")):
        m = _FILE.match(path.name)
        if not m:
            raise MigrationError(f"unexpected file in migrations folder: {path.name}")
        version = int(m.group(1))
        if names.setdefault(version, m.group(2)) != m.group(2):
            raise MigrationError(f"two names for migration {version:04d}")
        found.setdefault(version, {})[(m.group(3), m.group(4))] = path
    result = []
    for version in sorted(found):
        files = found[version]
        chosen = variant if (variant, "up") in files else None
        if (chosen, "up") not in files or (chosen, "down") not in files:
            raise MigrationError(f"migration {version:04d} needs both an up and a down script")
        result.append(
            Migration(
                version=version,
                name=names[version],
                up=files[(chosen, "up")].read_text(),
                down=files[(chosen, "down")].read_text(),
                variant=chosen,
            )
        )
    return result


def _lock_key(schema: str) -> int:
    return int.from_bytes(
        hashlib.sha256(f"migrate:{schema}".encode()).digest()[:8], "big", signed=True
    )


async def _ensure_table(conn: asyncpg.Connection, schema: str) -> None:
    # Checked first so that a service role without DDL rights (it only reads and writes its
    # tables; the schema owner runs the migrations) can start when nothing is pending.
    if await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", f"{schema}.schema_migrations"):
        return
    await conn.execute(
        f"""
        CREATE SCHEMA IF NOT EXISTS {schema};
        CREATE TABLE IF NOT EXISTS {schema}.schema_migrations (
            version integer PRIMARY KEY,
            name text NOT NULL,
            variant text,
            checksum text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )


async def applied_versions(conn: asyncpg.Connection, schema: str) -> dict[int, str]:
    await _ensure_table(conn, schema)
    rows = await conn.fetch(f"SELECT version, checksum FROM {schema}.schema_migrations")
    return {r["version"]: r["checksum"] for r in rows}


# A migration whose DDL races a catalog change it cannot lock against (TimescaleDB's background
# jobs, e.g. a continuous aggregate's first refresh right after its policy is created, update
# catalog rows of the hypertable an ALTER is changing) fails with one of these. Nothing of it
# was applied (one transaction per migration), so it is tried again.
_TRANSIENT = ("tuple concurrently updated", "tuple concurrently deleted")
_ATTEMPTS = 5


async def migrate_up(conn: asyncpg.Connection, schema: str, migrations: list[Migration]) -> int:
    """Applies every pending migration; returns how many were applied."""
    applied = 0
    for migration in migrations:
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                applied += await _apply(conn, schema, migration)
                break
            except asyncpg.InternalServerError as err:
                if attempt == _ATTEMPTS or not any(t in str(err) for t in _TRANSIENT):
                    raise
                log.warning(
                    "migration raced a concurrent catalog change; trying again",
                    extra={"schema": schema, "migration": migration.version, "error": str(err)},
                )
                await asyncio.sleep(0.2 * attempt)
    return applied


async def _apply(conn: asyncpg.Connection, schema: str, migration: Migration) -> int:
    """1 when `migration` was applied now, 0 when it already was."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _lock_key(schema))
        done = await applied_versions(conn, schema)
        if migration.version in done:
            if done[migration.version] != migration.checksum:
                # An edited, already-applied migration would make two databases
                # at the "same" version differ: refuse rather than guess.
                raise MigrationError(
                    f"migration {migration.version:04d}_{migration.name} changed after "
                    "it was applied; add a new migration instead"
                )
            return 0
        await conn.execute(migration.up)
        await conn.execute(
            f"INSERT INTO {schema}.schema_migrations (version, name, variant, checksum) "
            "VALUES ($1, $2, $3, $4)",
            migration.version,
            migration.name,
            migration.variant,
            migration.checksum,
        )
        log.info(
            "migration applied",
            extra={"schema": schema, "migration": f"{migration.version:04d}_{migration.name}"},
        )
        return 1


async def migrate_down(
    conn: asyncpg.Connection, schema: str, migrations: list[Migration], target: int
) -> int:
    """Reverts applied migrations above `target`, newest first; returns how many."""
    reverted = 0
    for migration in sorted(migrations, key=lambda m: m.version, reverse=True):
        if migration.version <= target:
            break
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _lock_key(schema))
            if migration.version not in await applied_versions(conn, schema):
                continue
            await conn.execute(migration.down)
            # The down script may drop the schema itself (the first migration's does).
            await _ensure_table(conn, schema)
            await conn.execute(
                f"DELETE FROM {schema}.schema_migrations WHERE version = $1", migration.version
            )
            reverted += 1
    return reverted


async def run_migrations(
    database_url: str,
    folder: Path,
    schema: str,
    *,
    variant: str | None = None,
    down_to: int | None = None,
) -> int:
    """Applies a service's migrations (or, with down_to, reverts them to that
    version) on a connection of its own; returns how many ran."""
    conn = await asyncpg.connect(database_url)
    try:
        migrations = load_migrations(folder, variant=variant)
        if down_to is None:
            applied = await migrate_up(conn, schema, migrations)
            log.info("migrations: %d applied", applied, extra={"schema": schema})
            return applied
        reverted = await migrate_down(conn, schema, migrations, down_to)
        log.info("migrations: %d reverted", reverted, extra={"schema": schema})
        return reverted
    finally:
        await conn.close()
