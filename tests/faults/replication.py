"""Two PostgreSQL servers in synchronous streaming replication on loopback, as the prod
CloudNativePG Cluster runs them (docs/operations.md): a primary, and a standby cloned from it
with pg_basebackup whose flush every commit waits for. What a switchover test needs: clone,
make synchronous, promote."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fundledger_devstack.postgres import PostgresServer

from tests.support.waiting import wait_until

SYNC_SECONDS = 60.0


async def add_synchronous_standby(
    primary: PostgresServer, data_dir: Path, port: int
) -> PostgresServer:
    """A standby of ``primary`` in ``data_dir``, started, and acknowledged as synchronous: from
    here on no commit on the primary returns before the standby has flushed it."""
    standby = await asyncio.to_thread(primary.base_backup_standby, data_dir, port)
    await asyncio.to_thread(standby.start)
    # After the clone, so the standby does not inherit it (it would wait for a standby of its
    # own once promoted).
    await asyncio.to_thread(primary.psql, "ALTER SYSTEM SET synchronous_standby_names = '*'")
    await asyncio.to_thread(primary.psql, "SELECT pg_reload_conf()")

    async def synchronous() -> bool:
        rows = await asyncio.to_thread(
            primary.psql, "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'"
        )
        return rows == "1"

    await wait_until(synchronous, "the standby acknowledged as synchronous", SYNC_SECONDS)
    return standby


async def promote(standby: PostgresServer) -> None:
    """The standby takes writes, alone: nothing of the old primary's synchronous setting."""
    await asyncio.to_thread(standby.promote)
    await asyncio.to_thread(standby.psql, "ALTER SYSTEM RESET synchronous_standby_names")
    await asyncio.to_thread(standby.psql, "SELECT pg_reload_conf()")
