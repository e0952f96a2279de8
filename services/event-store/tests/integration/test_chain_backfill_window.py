"""The hash chain's back-fill over a log spread across days (adapters/chain_backfill.py): each
batch reads a window of a day after its checkpoint, not every later partition — in TimescaleDB,
chunks already compressed included, which the back-fill then updates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from eventstore.adapters.chain_backfill import Backfill
from eventstore.adapters.partitions import NATIVE, detect_mode
from eventstore.bootstrap import EventStore
from eventstore_support import insert_raw_event, new_stream
from fundledger.eventstore.v1 import eventstore_pb2 as pb

# Days ago, in log order: gaps longer than the walk's window (a day) and shorter ones.
DAYS_AGO = (20.0, 19.5, 10.0, 9.8, 2.0, 0.5)


async def test_the_walk_goes_day_by_day_and_hashes_every_event(
    walked: tuple[EventStore, Any],
) -> None:
    store, stub = walked
    streams = [new_stream(), new_stream()]
    now = datetime.now(UTC)
    async with store.pool.acquire() as conn:
        for version, ago in enumerate(DAYS_AGO, start=1):
            for stream in streams:
                await insert_raw_event(conn, stream, version, now - timedelta(days=ago))
        compressed = 0
        if await detect_mode(conn) != NATIVE:
            # As the compression policy (older than 7 days) leaves an old log.
            compressed = await conn.fetchval(
                "SELECT count(compress_chunk(c, if_not_compressed => true)) FROM "
                "show_chunks('eventstore.events', older_than => interval '7 days') c"
            )
            assert compressed >= 2

    walk = Backfill(store.pool, batch=100)
    batches: list[int] = []
    for _ in range(len(DAYS_AGO) * 3):  # bounded: a step per window, and the head's
        hashed, more = await walk.step()
        batches.append(hashed)
        if not more:
            break
    # 20 and 19.5 days ago fit the first window; then a gap longer than a day, read unbounded
    # once: everything after it fits one batch of 100, which is the end of the log.
    assert batches == [4, 8]
    for stream in streams:
        verdict = await stub.VerifyStream(pb.VerifyStreamRequest(stream_id=stream))
        assert verdict.ok, verdict
        assert (verdict.events_checked, verdict.events_unverified) == (len(DAYS_AGO), 0)


async def test_a_window_cut_batch_is_not_the_end_of_the_log(
    walked: tuple[EventStore, Any],
) -> None:
    store, stub = walked
    stream = new_stream()
    now = datetime.now(UTC)
    async with store.pool.acquire() as conn:
        for version, ago in enumerate((3.0, 2.9, 2.8, 2.2, 1.5, 0.1), start=1):
            await insert_raw_event(conn, stream, version, now - timedelta(days=ago))
    walk = Backfill(store.pool, batch=100)
    # Each window (a day after the checkpoint) holds fewer events than a batch, and there is
    # more after it: the walk goes on.
    assert await walk.step() == (4, True)  # 3.0 to 2.2 days ago
    assert await walk.step() == (1, True)  # 1.5, the only one within a day of 2.2
    assert await walk.step() == (1, False)  # nothing within a day of 1.5: unbounded, the rest
    assert await walk.step() == (0, False)  # the head
    verdict = await stub.VerifyStream(pb.VerifyStreamRequest(stream_id=stream))
    assert verdict.ok
    assert verdict.events_unverified == 0
