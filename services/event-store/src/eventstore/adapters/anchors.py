"""The daily anchors of the hash chain (docs/event-store.md, "Hash chain"), run by the leader.

At a configurable UTC time (Settings.anchor_time, FUNDLEDGER_EVENTSTORE_ANCHOR_TIME, "00:05")
the anchor of the day before is recorded: the head of every stream changed that day as of its
end — the stream's last event recorded that day, its version and stored hash — and the Merkle
root over them (fundledger_kernel.merkle), in eventstore.log_anchors/log_anchor_streams
(migration 0011). Then it is published on the bus (core NATS, Settings.anchor_subject,
"fundledger.anchors") for an external notary to keep: once the root is held outside the
database, rewriting the chain from an edited event on — which the chain alone cannot reveal —
shows up in VerifyLog as an ``anchor mismatch``.

- Exactly one anchor per day however many replicas or runs: the day is the primary key, and an
  anchor is written in one transaction (INSERT … ON CONFLICT DO NOTHING first).
- Before reading a day, the step waits for the appends in flight (it takes the log_head lock for
  an instant): a later append gets a later recorded_at (FM-9), so none of that day is missed.
- Events without a hash (not back-filled yet, or after a gap) cannot be anchored: a stream whose
  last event of the day has none is left out (logged).
- Days missed while no leader ran are recorded on the next run, at most ``CATCH_UP_DAYS`` back.
- Published after the commit, under the anchor row's lock (FOR UPDATE SKIP LOCKED: one replica
  publishes it), then ``published_at`` is set; an anchor recorded but not published (the bus
  was down, the leader stopped) is published on the next run, at start too. A crash between
  the publish and its commit publishes it again: the day and part identify it (header Nats-Msg-Id
  ``<day>/<part>``).
- The message (JSON): day, taken_at, root (hex), stream_count, and the streams
  [{stream_id, version, hash (hex)}] — in parts of ``PART`` streams (part, parts) so a busy
  day stays under the bus's message size.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, date, datetime, time, timedelta

import asyncpg
from fundledger_kernel.merkle import root
from nats.aio.client import Client as NATS

log = logging.getLogger(__name__)

CATCH_UP_DAYS = 31
PART = 2000
DEFAULT_SUBJECT = "fundledger.anchors"
# The longest sleep of the leader's task between two looks (a bus down gets retried, a clock
# moved gets noticed).
MAX_SLEEP_SECONDS = 300.0
FLUSH_SECONDS = 10

# The last event of each stream recorded in [$1, $2): its time bounds prune to the day's
# partitions.
_DAY_HEADS = (
    "SELECT DISTINCT ON (stream_id) stream_id, version, hash FROM eventstore.events "
    "WHERE recorded_at >= $1 AND recorded_at < $2 ORDER BY stream_id, version DESC"
)


def parse_anchor_time(text: str) -> time:
    """The setting, "HH:MM" (UTC), as a time; ValueError naming the setting otherwise."""
    try:
        parsed = datetime.strptime(text.strip(), "%H:%M")
    except ValueError:
        raise ValueError(
            f"FUNDLEDGER_EVENTSTORE_ANCHOR_TIME must be HH:MM (UTC), not {text!r}"
        ) from None
    return parsed.time()


def due_day(now: datetime, at: time) -> date:
    """The latest day whose anchor is due at ``now``: yesterday once today's ``at`` passed,
    else the day before."""
    utc = now.astimezone(UTC)
    back = 1 if utc.time() >= at else 2
    return utc.date() - timedelta(days=back)


def seconds_until_next(now: datetime, at: time) -> float:
    utc = now.astimezone(UTC)
    nxt = datetime.combine(utc.date(), at, UTC)
    if nxt <= utc:
        nxt += timedelta(days=1)
    return (nxt - utc).total_seconds()


class Anchors:
    def __init__(self, pool: asyncpg.Pool, bus: NATS, subject: str = DEFAULT_SUBJECT) -> None:
        self._pool = pool
        self._bus = bus
        self._subject = subject

    async def record(self, day: date) -> bool:
        """Records ``day``'s anchor unless it is recorded; whether this call recorded it."""
        start = datetime.combine(day, time(), UTC)
        end = start + timedelta(days=1)
        async with self._pool.acquire() as conn:
            if await conn.fetchval("SELECT 1 FROM eventstore.log_anchors WHERE day = $1", day):
                return False
            async with conn.transaction():
                # Waits for the appends in flight: every later one is recorded after now.
                await conn.execute("SELECT 1 FROM eventstore.log_head FOR NO KEY UPDATE")
            async with conn.transaction():
                await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
                rows = await conn.fetch(_DAY_HEADS, start, end)
                heads = [r for r in rows if r["hash"] is not None]
                if len(heads) < len(rows):
                    log.warning(
                        "anchor of %s: %d streams left out, their last event of the day has "
                        "no hash yet",
                        day,
                        len(rows) - len(heads),
                    )
                top = root((r["stream_id"], bytes(r["hash"])) for r in heads)
                mine = await conn.fetchval(
                    "INSERT INTO eventstore.log_anchors (day, taken_at, stream_count, root) "
                    "VALUES ($1, now(), $2, $3) ON CONFLICT (day) DO NOTHING RETURNING true",
                    day,
                    len(heads),
                    top,
                )
                if not mine:
                    return False  # another replica's, committed meanwhile
                await conn.execute(
                    "INSERT INTO eventstore.log_anchor_streams (day, stream_id, version, hash) "
                    "SELECT $1, s, v, h FROM unnest($2::text[], $3::bigint[], $4::bytea[]) "
                    "AS u(s, v, h)",
                    day,
                    [r["stream_id"] for r in heads],
                    [r["version"] for r in heads],
                    [bytes(r["hash"]) for r in heads],
                )
        log.info("anchor of %s recorded: %d streams, root %s", day, len(heads), top.hex())
        return True

    async def publish_pending(self) -> int:
        """Publishes every recorded anchor not published yet, oldest first; how many."""
        published = 0
        for _ in range(CATCH_UP_DAYS * 4):  # bounded; more waits for the next run
            async with self._pool.acquire() as conn, conn.transaction():
                row = await conn.fetchrow(
                    "SELECT day, taken_at, stream_count, root FROM eventstore.log_anchors "
                    "WHERE published_at IS NULL ORDER BY day LIMIT 1 FOR UPDATE SKIP LOCKED"
                )
                if row is None:
                    return published
                streams = await conn.fetch(
                    "SELECT stream_id, version, hash FROM eventstore.log_anchor_streams "
                    "WHERE day = $1 ORDER BY stream_id",
                    row["day"],
                )
                for n, body in enumerate(messages(row, streams), start=1):
                    await self._bus.publish(
                        self._subject, body, headers={"Nats-Msg-Id": f"{row['day']}/{n}"}
                    )
                await self._bus.flush(timeout=FLUSH_SECONDS)
                await conn.execute(
                    "UPDATE eventstore.log_anchors SET published_at = now() WHERE day = $1",
                    row["day"],
                )
            published += 1
            log.info("anchor of %s published on %s", row["day"], self._subject)
        return published

    async def catch_up(self, now: datetime, at: time) -> int:
        """Records the anchors due at ``now`` (the days since the last one recorded, at most
        CATCH_UP_DAYS) and publishes what is unpublished; the anchors recorded."""
        due = due_day(now, at)
        last = await self._pool.fetchval("SELECT max(day) FROM eventstore.log_anchors")
        first = (
            due
            if last is None
            else max(last + timedelta(days=1), due - timedelta(days=CATCH_UP_DAYS - 1))
        )
        recorded = 0
        day = first
        while day <= due:
            recorded += await self.record(day)
            day += timedelta(days=1)
        await self.publish_pending()
        return recorded


def messages(anchor: asyncpg.Record, streams: list[asyncpg.Record]) -> list[bytes]:
    """The anchor's message(s), ``PART`` streams each (one message for a day without any)."""
    parts = max(1, -(-len(streams) // PART))
    out = []
    for n in range(parts):
        chunk = streams[n * PART : (n + 1) * PART]
        body = {
            "day": anchor["day"].isoformat(),
            "taken_at": anchor["taken_at"].astimezone(UTC).isoformat(),
            "root": bytes(anchor["root"]).hex(),
            "stream_count": anchor["stream_count"],
            "part": n + 1,
            "parts": parts,
            "streams": [
                {
                    "stream_id": s["stream_id"],
                    "version": s["version"],
                    "hash": bytes(s["hash"]).hex(),
                }
                for s in chunk
            ],
        }
        out.append(json.dumps(body, separators=(",", ":")).encode())
    return out


async def run_anchors(anchors: Anchors, at: time) -> None:
    """The leader's task: catches up now (at start too), then again after the next anchor time
    (looking at least every MAX_SLEEP_SECONDS)."""
    while True:
        try:
            await anchors.catch_up(datetime.now(UTC), at)
        except Exception:
            log.exception("daily anchor failed; retrying")
        wait = seconds_until_next(datetime.now(UTC), at) + 1.0
        await asyncio.sleep(min(wait, MAX_SLEEP_SECONDS))
