"""The snapshotter checks the hash chain of every fold (issue 13): a snapshot keeps the hash of
the event at its version, a snapshot taken from it checks the events folded on top from that
hash (from the genesis hash when it folds from the first event), and an event row edited in
PostgreSQL is refused like a log that cannot be folded — no snapshot written, DATA_LOSS
FUND_CHAIN_BROKEN for a caller, the fund passed over by the catch-up and halted on the bus —
while every other fund goes on."""

from __future__ import annotations

import json

import asyncpg
import grpc
import pytest
from fundledger.snapshotter.v1 import snapshotter_pb2 as pb
from snapshotter_stack import Stack, StackFactory, seen_version, wait_seen
from snapshotter_support import (
    append_many,
    at_version,
    eventually,
    list_all,
    metadata_of,
    new_fund,
    reason_of,
)

from tests.support.event_rows import rewrite_payload


async def _tamper(dsn: str, fund_id: str, version: int) -> None:
    """An edit of a stored event's payload that the fold reads fine: only the chain tells."""
    conn = await asyncpg.connect(dsn)
    try:
        await rewrite_payload(conn, fund_id, version, json.dumps({"amount_cents": 1000}))
    finally:
        await conn.close()


async def _fetchval(dsn: str, query: str, *args: object) -> object:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(query, *args)
    finally:
        await conn.close()


async def _event_hash(dsn: str, fund_id: str, version: int) -> object:
    return await _fetchval(
        dsn,
        "SELECT hash FROM eventstore.events WHERE stream_id = $1 AND version = $2",
        fund_id,
        version,
    )


async def _snapshot_hash(dsn: str, fund_id: str, version: int) -> object:
    return await _fetchval(
        dsn,
        "SELECT chain_hash FROM snapshotter.snapshots WHERE fund_id = $1 AND version = $2",
        fund_id,
        version,
    )


async def _chain_broken(stack: Stack, fund_id: str, version: int) -> None:
    for call in (
        at_version(stack, fund_id, version),
        stack.api.CreateSnapshot(pb.CreateSnapshotRequest(fund_id=fund_id)),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == grpc.StatusCode.DATA_LOSS, caught.value
        assert reason_of(caught.value) == "FUND_CHAIN_BROKEN"
        metadata = metadata_of(caught.value)
        assert (metadata["fund_id"], metadata["version"]) == (fund_id, str(version))


async def test_snapshots_keep_the_hash_of_their_event_and_chain_on_from_it(
    stack_factory: StackFactory,
) -> None:
    # Only the catch-up calls below move the snapshotter.
    stack = await stack_factory(bus_subject_prefix="nowhere.events", catchup_seconds=3600)
    fund_id = new_fund()
    await append_many(stack.store_stub, fund_id, 50)
    await stack.snapshotter.catchup.run_once()
    stored = await _event_hash(stack.dsn, fund_id, 50)
    assert isinstance(stored, bytes)
    assert len(stored) == 32
    assert await _snapshot_hash(stack.dsn, fund_id, 50) == stored

    # Taken from the one at 50, checked from its hash.
    await append_many(stack.store_stub, fund_id, 50, new=False)
    await stack.snapshotter.catchup.run_once()
    assert [s.version for s in await list_all(stack.api, fund_id)] == [100, 50]
    assert await _snapshot_hash(stack.dsn, fund_id, 100) == await _event_hash(
        stack.dsn, fund_id, 100
    )

    # A snapshot written before the snapshotter verified (no hash): the next one is taken from
    # it, its first hashed event taken as it is, and keeps its hash again.
    await _fetchval(
        stack.dsn,
        "UPDATE snapshotter.snapshots SET chain_hash = NULL WHERE fund_id = $1 AND version = 100",
        fund_id,
    )
    await append_many(stack.store_stub, fund_id, 50, new=False)
    await stack.snapshotter.catchup.run_once()
    assert await _snapshot_hash(stack.dsn, fund_id, 150) == await _event_hash(
        stack.dsn, fund_id, 150
    )
    assert (await at_version(stack, fund_id, 120)).state.called_cents == 119


async def test_a_tampered_event_writes_no_snapshot_and_the_catch_up_goes_on(
    stack_factory: StackFactory,
) -> None:
    stack = await stack_factory(bus_subject_prefix="nowhere.events", catchup_seconds=3600)
    from_genesis, from_snapshot, healthy = new_fund(), new_fund(), new_fund()
    await append_many(stack.store_stub, from_snapshot, 50)
    await stack.snapshotter.catchup.run_once()
    assert [s.version for s in await list_all(stack.api, from_snapshot)] == [50]

    # Edited before the count trigger reaches them: one in a fold from the first event, one in
    # a fold on top of the snapshot at 50.
    await append_many(stack.store_stub, from_genesis, 49)
    await append_many(stack.store_stub, from_snapshot, 49, new=False)
    await _tamper(stack.dsn, from_genesis, 10)
    await _tamper(stack.dsn, from_snapshot, 60)
    await append_many(stack.store_stub, from_genesis, 1, new=False)
    await append_many(stack.store_stub, from_snapshot, 1, new=False)
    await append_many(stack.store_stub, healthy, 50)

    await stack.snapshotter.catchup.run_once()
    assert await list_all(stack.api, from_genesis) == []
    assert [s.version for s in await list_all(stack.api, from_snapshot)] == [50]
    assert [s.version for s in await list_all(stack.api, healthy)] == [50]
    assert await seen_version(stack, from_genesis) == 0  # tried again on its next event
    assert await seen_version(stack, from_snapshot) == 50
    # The checkpoint moved past them: the next round does not spin.
    assert await stack.snapshotter.catchup.run_once() == 0

    await _chain_broken(stack, from_genesis, 10)
    await _chain_broken(stack, from_snapshot, 60)
    # What comes before the edit is still answered, from the snapshot or the first event.
    assert (await at_version(stack, from_snapshot, 59)).state.called_cents == 58
    assert (await at_version(stack, from_genesis, 9)).state.called_cents == 8


async def test_the_bus_halts_a_tampered_fund_and_keeps_the_others_flowing(
    stack_factory: StackFactory,
) -> None:
    # The bus alone: no catch-up round after start-up takes the snapshots instead.
    stack = await stack_factory(catchup_seconds=3600)
    broken, healthy = new_fund(), new_fund()
    await append_many(stack.store_stub, broken, 49)
    await wait_seen(stack, broken, 49)
    await _tamper(stack.dsn, broken, 10)
    await append_many(stack.store_stub, broken, 1, new=False)  # v50: a count snapshot is due
    await append_many(stack.store_stub, healthy, 50)

    consumer = stack.snapshotter.consumer

    async def settled() -> bool:
        return broken in consumer.halted and len(await list_all(stack.api, healthy)) == 1

    await eventually(settled, "the tampered fund halted and the healthy one snapshotted")
    assert "v10: hash chain broken" in consumer.halted[broken]
    assert await list_all(stack.api, broken) == []
    assert await seen_version(stack, broken) == 49
    assert await _snapshot_hash(stack.dsn, healthy, 50) == await _event_hash(stack.dsn, healthy, 50)
