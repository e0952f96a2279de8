"""The restore drill's PostgreSQL side: a logical backup of the event store's database taken
while it is written to, its restore into a fresh server, and what the restored copy holds.

The backup is `pg_dump -Fc`, the small-install backup of docs/operations.md: one transaction's
snapshot of the database. The read models' schemas (projector, snapshotter) are left out, so
the services started on the restored copy begin with empty projections and must rebuild them
from the log. In the TimescaleDB storage mode the restore is TimescaleDB's documented one:
the extension created first, `timescaledb_pre_restore()`, pg_restore without the dump's own
CREATE EXTENSION, `timescaledb_post_restore()`.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from fundledger_devstack.postgres import PostgresServer

# The read models: rebuildable from the log, so the drill restores without them.
READ_MODEL_SCHEMAS = ("projector", "snapshotter")
DUMP_TIMEOUT = 60.0


def _tool_env() -> dict[str, str]:
    # PGHOST, PGPORT… from the caller's shell must not redirect the tools elsewhere.
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


def _connection_args(server: PostgresServer, database: str) -> list[str]:
    return ["-h", server.host, "-p", str(server.port), "-U", "postgres", "-d", database]


async def dump_database(server: PostgresServer, database: str, target: Path) -> None:
    """`pg_dump -Fc` of ``database`` without the read models' schemas, into ``target``.
    Runs in a child process, so the caller's appends keep flowing while it does."""
    argv = [server.install.tool("pg_dump"), "-Fc", "-f", str(target)]
    for schema in READ_MODEL_SCHEMAS:
        argv += ["-N", schema]
    process = await asyncio.create_subprocess_exec(
        *argv,
        *_connection_args(server, database),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_tool_env(),
    )
    try:
        _, err = await asyncio.wait_for(process.communicate(), DUMP_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"pg_dump still running after {DUMP_TIMEOUT:.0f}s") from None
    assert process.returncode == 0, f"pg_dump failed: {err.decode(errors='replace')}"


def restore_database(server: PostgresServer, dump: Path, database: str, timescale: bool) -> None:
    """Restores ``dump`` into ``database`` (created empty) on ``server``, a fresh cluster."""
    server.create_database(database)
    restore = [server.install.tool("pg_restore"), "--exit-on-error", "--no-owner"]
    restore += _connection_args(server, database)
    if timescale:
        server.psql("CREATE EXTENSION IF NOT EXISTS timescaledb", database)
        server.psql("SELECT timescaledb_pre_restore()", database)
        # The dump's own CREATE EXTENSION would fail on the extension created above.
        listing = _run([server.install.tool("pg_restore"), "-l", str(dump)])
        kept = [line for line in listing.splitlines() if " EXTENSION - timescaledb" not in line]
        toc = dump.with_suffix(".toc")
        toc.write_text("\n".join(kept) + "\n")
        restore += ["-L", str(toc)]
    try:
        _run([*restore, str(dump)])
    finally:
        if timescale:
            server.psql("SELECT timescaledb_post_restore()", database)


def _run(argv: list[str]) -> str:
    result = subprocess.run(
        argv, capture_output=True, text=True, timeout=DUMP_TIMEOUT, env=_tool_env(), check=False
    )
    assert result.returncode == 0, f"{Path(argv[0]).name} failed: {result.stderr.strip()}"
    return result.stdout


@dataclass(frozen=True)
class BackupPoint:
    """What a (restored) database says about the log it holds."""

    head_position: int  # log_head.last_position: the backup point B
    relay_checkpoint: int  # where the relay resumes publishing (0: no checkpoint)
    versions: dict[str, int]  # stream -> version
    event_count: int
    max_position: int
    storage_mode: str


async def backup_point(dsn: str, relay_name: str = "jetstream") -> BackupPoint:
    conn = await asyncpg.connect(dsn)
    try:
        head = await conn.fetchval("SELECT last_position FROM eventstore.log_head")
        checkpoint = await conn.fetchval(
            "SELECT position FROM eventstore.relay_checkpoints WHERE name = $1", relay_name
        )
        rows = await conn.fetch("SELECT stream_id, version FROM eventstore.streams")
        totals = await conn.fetchrow(
            "SELECT count(*) AS n, coalesce(max(position), 0) AS top FROM eventstore.events"
        )
        mode = await conn.fetchval("SELECT mode FROM eventstore.storage_mode")
        assert totals is not None
    finally:
        await conn.close()
    return BackupPoint(
        head_position=int(head),
        relay_checkpoint=int(checkpoint or 0),
        versions={r["stream_id"]: int(r["version"]) for r in rows},
        event_count=int(totals["n"]),
        max_position=int(totals["top"]),
        storage_mode=str(mode),
    )


async def stored_event_ids(dsn: str) -> set[str]:
    """Every event id the database knows (the events table and the id index)."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT event_id::text AS id FROM eventstore.events "
            "UNION SELECT event_id::text FROM eventstore.event_ids"
        )
    finally:
        await conn.close()
    return {r["id"] for r in rows}


async def relay_checkpoint(dsn: str, relay_name: str = "jetstream") -> int:
    conn = await asyncpg.connect(dsn)
    try:
        value = await conn.fetchval(
            "SELECT position FROM eventstore.relay_checkpoints WHERE name = $1", relay_name
        )
    finally:
        await conn.close()
    return int(value or 0)
