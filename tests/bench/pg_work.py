"""PostgreSQL's work per appended (or raw-inserted) event during a measured window.

Counters are read before and after the window: the database's transactions and tuples
(pg_stat_database), a few tables' inserted/updated rows (pg_stat_user_tables), and the
WAL insert position. The PostgreSQL CPU comes from the process probe (probes.py).

Why two event counts: the statistics are flushed by each backend at most once a second
(PostgreSQL 15+), so they trail the wall clock by up to a second. Dividing them by the
events the same backends reported (rows inserted into a table holding one row per event,
counted in the same flushes) keeps the ratio exact; the WAL position and the CPU are read
live, so they are divided by the events the clients saw end in the window. A backend left
idle after a window flushes its last second of statistics within ten seconds, so a figure
right after another may carry a little of the previous one's (in its statistics only).

The monitor reads the counters through pg_stat_get_* functions rather than the views, so
that its own reads (catalog scans) add next to nothing to the tuples it measures.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import asyncpg

# Counted per table: (name in the counters, table, pg_stat_get_tuples_<what>).
TABLES = (
    ("head_updates", "eventstore.streams", "updated"),
    ("log_head_updates", "eventstore.log_head", "updated"),
    ("event_ids_inserted", "eventstore.event_ids", "inserted"),
    ("raw_inserted", "bench.raw_events", "inserted"),
)
# The tables with one row per event: what the statistics count as the events of a window.
APPENDED = "event_ids_inserted"
RAW_INSERTED = "raw_inserted"

_DATABASE = (
    ("xact_commit", "xact_commit"),
    ("xact_rollback", "xact_rollback"),
    ("tup_returned", "tuples_returned"),
    ("tup_fetched", "tuples_fetched"),
    ("tup_inserted", "tuples_inserted"),
    ("tup_updated", "tuples_updated"),
    ("tup_deleted", "tuples_deleted"),
)
_COLUMNS = [f"pg_stat_get_db_{fn}(d.oid) AS {name}" for name, fn in _DATABASE] + [
    f"coalesce(pg_stat_get_tuples_{what}(to_regclass('{table}')), 0) AS {name}"
    for name, table, what in TABLES
]
SNAPSHOT_SQL = (
    "SELECT "
    + ", ".join(_COLUMNS)
    + ", pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0') AS wal_bytes"
    + " FROM pg_database d WHERE d.datname = current_database()"
)

Counters = dict[str, float]


@dataclass(frozen=True)
class PgWork:
    """PostgreSQL's work during one window: the counters' deltas and the figures per event."""

    deltas: dict[str, float]
    events: int  # events in calls that ended in the window (the clients' count)
    counted_events: float  # the same events as PostgreSQL's statistics counted them
    cpu_seconds: float  # of the postmaster and all its children
    per_event: dict[str, float]


def pg_work(
    before: Mapping[str, float],
    after: Mapping[str, float],
    *,
    events: int,
    counted_by: str,
    cpu_seconds: float,
) -> PgWork:
    """The deltas between two snapshots, and per event: transactions, tuples read, inserted
    and updated, head UPDATEs (the database's statistics, divided by the events they
    counted); WAL bytes and CPU milliseconds (live, divided by the clients' events)."""
    deltas = {key: after[key] - before.get(key, 0.0) for key in after}
    counted = deltas.get(counted_by, 0.0)
    # Without a count of its own (e.g. no table with one row per event), the clients' count.
    stats_events = counted if counted > 0 else float(events)

    def per(value: float, n: float) -> float:
        return value / n if n > 0 else 0.0

    d = deltas.get
    per_event = {
        "xacts": per(d("xact_commit", 0.0) + d("xact_rollback", 0.0), stats_events),
        "tuples_read": per(d("tup_returned", 0.0) + d("tup_fetched", 0.0), stats_events),
        "tuples_inserted": per(d("tup_inserted", 0.0), stats_events),
        "tuples_updated": per(d("tup_updated", 0.0), stats_events),
        "head_updates": per(d("head_updates", 0.0), stats_events),
        "wal_bytes": per(d("wal_bytes", 0.0), events),
        "cpu_ms": per(cpu_seconds * 1000, events),
    }
    return PgWork(deltas, events, counted, cpu_seconds, per_event)


def describe(work: PgWork, base: PgWork | None = None, base_key: str = "") -> str:
    """One compact line for the results table."""
    p = work.per_event
    line = (
        f"pg per event: {p['xacts']:.2f} xacts, {p['wal_bytes']:,.0f} B WAL, "
        f"{p['tuples_read']:.1f} tuples read, {p['head_updates']:.2f} head UPDATEs, "
        f"{p['cpu_ms']:.3f} ms CPU"
    )
    ratio = cpu_ratio(work, base)
    if ratio is not None:
        line += f" ({ratio:.1f}× {base_key}'s)"
    return line


def cpu_ratio(work: PgWork | None, base: PgWork | None) -> float | None:
    """PostgreSQL CPU per event over the baseline's, None when either is missing."""
    if work is None or base is None or base.per_event["cpu_ms"] <= 0 or work.events == 0:
        return None
    return work.per_event["cpu_ms"] / base.per_event["cpu_ms"]


class PgProbe:
    """Reads the counters of the database the bench's raw baselines use (its superuser in
    throwaway mode; statistics and the WAL position are readable by any role)."""

    def __init__(self, database_url: str) -> None:
        self._url = database_url
        self._conn: asyncpg.Connection | None = None

    async def open(self) -> None:
        """Connects before a window, so the new backend's start-up is not in its CPU."""
        if self._conn is None or self._conn.is_closed():
            self._conn = await asyncpg.connect(self._url)

    async def snapshot(self) -> Counters | None:
        """The counters now; None when they cannot be read (e.g. a standby in target mode)."""
        try:
            await self.open()
            assert self._conn is not None
            row = await self._conn.fetchrow(SNAPSHOT_SQL)
        except (OSError, asyncpg.PostgresError):
            return None
        return None if row is None else {key: float(value) for key, value in row.items()}

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
