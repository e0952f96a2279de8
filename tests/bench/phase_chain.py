"""Phase `chain` (issue 13): what the hash chain costs an append, in the same run.

Two event stores are started beside the run's (no relay, no chain back-fill, secure like the
run), each on a new database of its own on the run's PostgreSQL server, both migrated to the
latest at start. On the "nochain" database, commit_group's body is then put back to the one
before the chain (the CREATE FUNCTION of migration 0008, run as CREATE OR REPLACE; same
signature), so its events keep a NULL hash; the "chain" database keeps migration 0009's body,
which hashes every event in the append transaction. One-event appends to the clients' own
streams are measured at c32 against each, back to back (without the chain first), with the
serving process's CPU per call. Target: chain ≥ 0.9× nochain. Afterwards the phase checks
that the two databases hold what they should (every event hashed, none hashed).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING

import asyncpg

from tests.bench.chain_figures import (
    CHAIN,
    CONCURRENCY,
    CONFIGS,
    NOCHAIN,
    chain_key,
    server_name,
)
from tests.bench.checks import Check, throughput_ratio
from tests.bench.extra_stores import start_event_store
from tests.bench.measure import Figure
from tests.bench.services import ServiceError
from tests.bench.settings import REPO_ROOT

if TYPE_CHECKING:
    from tests.bench.phases import Phases

TARGET_RATIO = 0.9
ISSUE = 13
START_SECONDS = 90.0
MIGRATION_0008 = REPO_ROOT / "services/event-store/migrations/0008_commit_group_effective.up.sql"
_CREATE = "CREATE FUNCTION eventstore.commit_group("
NO_BACKFILL = {"FUNDLEDGER_EVENTSTORE_CHAIN_BACKFILL_ENABLED": "false"}


def pre_chain_commit_group(sql: str) -> str:
    """Migration 0008's CREATE FUNCTION statement (only it) as CREATE OR REPLACE."""
    start = sql.index(_CREATE)
    body = sql.index("AS $$", start)
    end = sql.index("\n$$;", body) + len("\n$$;")
    return "CREATE OR REPLACE " + sql[start + len("CREATE ") : end]


def issue13_chain_checks(figures: Mapping[str, Figure]) -> list[Check]:
    what = f"append 1 event c{CONCURRENCY} with the hash chain, calls/s"
    return [throughput_ratio(figures, CHAIN, NOCHAIN, TARGET_RATIO, what, ISSUE)]


def database_dsn(dsn: str, database: str) -> str:
    """``dsn`` with its database replaced (the run's DSNs carry no query string)."""
    head, _, _ = dsn.rpartition("/")
    return f"{head}/{database}"


async def chain_cost(p: Phases) -> None:
    stack = p.stack
    if stack.nats_url is None:
        p.log("phase chain skipped: needs the throwaway stack (target mode)")
        p.notes["skipped_chain"] = "target mode"
        return
    p.log("hash chain cost: appends against an event store with the chain and one without")
    try:
        async with _event_stores(p) as (stores, dsns):
            for config in CONFIGS:
                work = p.work("append", stores[config], tag=f"{p.tag}{config}{CONCURRENCY}")
                label = f"append 1 event, own stream, {config}, c{CONCURRENCY}"
                await p.meter.measure(chain_key(config), label, work, CONCURRENCY)
            hashed = {config: await _hashed(dsns[config]) for config in CONFIGS}
    except ServiceError as err:
        p.log(f"phase chain stopped: {err}")
        p.notes["failed_chain"] = str(err)
        return
    figures = {f.key: f for f in p.meter.figures}
    p.notes["chain"] = {"events_hashed_of": {c: list(v) for c, v in hashed.items()}}
    for config in CONFIGS:
        done, total = hashed[config]
        p.log(f"  {config}: {done:,} of {total:,} events hashed")
    if hashed["nochain"][0] != 0 or hashed["chain"][0] != hashed["chain"][1]:
        p.log("  warning: the databases do not hold what the configurations should write")
    chain, nochain = figures.get(CHAIN), figures.get(NOCHAIN)
    if chain is not None and nochain is not None and nochain.value > 0:
        p.log(f"  chain / nochain: {chain.value / nochain.value:.3f} (target ≥ {TARGET_RATIO})")


async def _hashed(dsn: str) -> tuple[int, int]:
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow("SELECT count(hash), count(*) FROM eventstore.events")
        assert row is not None
        return int(row[0]), int(row[1])
    finally:
        await conn.close()


async def _create_database(admin_dsn: str, name: str) -> None:
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def _unchain(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(pre_chain_commit_group(MIGRATION_0008.read_text()))
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def _event_stores(p: Phases) -> AsyncIterator[tuple[dict[str, str], dict[str, str]]]:
    """An event store per configuration, each on a database of its own; returns their
    addresses and their databases' DSNs."""
    stack = p.stack
    addresses: dict[str, str] = {}
    dsns: dict[str, str] = {}
    with contextlib.ExitStack() as started:
        for config in CONFIGS:
            database = f"bench_{config}_{p.tag}"
            await _create_database(stack.database_url, database)
            dsns[config] = database_dsn(stack.database_url, database)
            address, _ = await start_event_store(
                stack,
                started,
                server_name(config),
                security=stack.security,
                env=NO_BACKFILL,
                start_seconds=START_SECONDS,
                dsn=dsns[config],
            )
            addresses[config] = address
        await _unchain(dsns["nochain"])  # after the store's migrations at start
        p.log(f"  started {', '.join(f'{server_name(c)} {a}' for c, a in addresses.items())}")
        yield addresses, dsns
