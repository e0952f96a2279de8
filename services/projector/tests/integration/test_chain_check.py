"""The projector checks each event's hash against the last one it applied (issue 13): an event
row edited in PostgreSQL after its hash was taken stops that fund where it was — on the bus, in
the catch-up, in a refold — and every other fund goes on."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import asyncpg
from fundledger_kernel.chain import genesis
from projector_stack import Stack
from projector_support import (
    append,
    capital_called,
    counter,
    effective,
    fund_created,
    get_state,
    new_fund,
    stored_row,
    wait_until,
)

from tests.support.event_rows import rewrite_payload

HALTED = "fundledger_consumer_halted_streams"


def day(d: int) -> datetime:
    return datetime(2025, 3, d, tzinfo=UTC)


async def _tamper(dsn: str, fund_id: str, version: int, amount: int) -> None:
    """An edit of a stored event's payload (a valid one: only the chain can tell)."""
    conn = await asyncpg.connect(dsn)
    try:
        await rewrite_payload(conn, fund_id, version, json.dumps({"amount_cents": amount}))
    finally:
        await conn.close()


async def _row_hash(dsn: str, fund_id: str) -> bytes | None:
    conn = await asyncpg.connect(dsn)
    try:
        value: bytes | None = await conn.fetchval(
            "SELECT chain_hash FROM projector.fund_state WHERE fund_id = $1", fund_id
        )
        return value
    finally:
        await conn.close()


async def _stored_hash(dsn: str, fund_id: str, version: int) -> bytes:
    conn = await asyncpg.connect(dsn)
    try:
        value: bytes = await conn.fetchval(
            "SELECT hash FROM eventstore.events WHERE stream_id = $1 AND version = $2",
            fund_id,
            version,
        )
        return value
    finally:
        await conn.close()


async def test_the_row_keeps_the_hash_of_its_last_event(stack: Stack) -> None:
    projector = await stack.projector(consumer_enabled=False, catchup_enabled=False)
    fund = new_fund()
    await append(stack.client, fund, fund_created("Chained"), capital_called(1))
    await projector.catchup.run_once()
    stored = await _stored_hash(stack.dsn, fund, 2)
    assert len(stored) == 32
    assert stored != genesis(fund)
    assert await _row_hash(stack.dsn, fund) == stored


async def test_the_catch_up_sets_a_tampered_fund_aside_and_goes_on(stack: Stack) -> None:
    projector = await stack.projector(consumer_enabled=False, catchup_enabled=False)
    stub = stack.stub(projector)
    bad, good = new_fund(), new_fund()
    await append(stack.client, bad, fund_created("Bad"), capital_called(1))
    await projector.catchup.run_once()
    await append(stack.client, bad, capital_called(2), capital_called(3))  # v3, v4
    await _tamper(stack.dsn, bad, 3, 200)
    await append(stack.client, good, fund_created("Good"), capital_called(2))

    assert await projector.catchup.run_once() == 2  # good's two
    assert "v3: hash chain broken" in projector.catchup.halted[bad]
    assert (await get_state(stub, bad)).state.version == 2
    assert (await get_state(stub, good)).state.version == 2
    row = await stored_row(stack.dsn, bad)
    assert row is not None
    assert row["version"] == 2
    assert await _row_hash(stack.dsn, bad) == await _stored_hash(stack.dsn, bad, 2)


async def test_a_refold_over_a_tampered_event_halts_that_fund_on_the_bus(stack: Stack) -> None:
    projector = await stack.projector(catchup_enabled=False, ack_wait_seconds=2.0)
    stub = stack.stub(projector)
    bad, good = new_fund(), new_fund()
    await append(
        stack.client,
        bad,
        effective(fund_created("Bad"), day(1)),
        effective(capital_called(1), day(20)),
    )
    await get_state(stub, bad, min_version=2)
    halted_before = counter(HALTED, {"durable": "projector"})
    # v2, already applied, is edited; a backdated v3 makes the projector fold the fund again
    # from the log, which reads the edited v2 and finds its hash does not match.
    await _tamper(stack.dsn, bad, 2, 100)
    await append(stack.client, bad, effective(capital_called(5), day(10)))
    await append(stack.client, good, fund_created("Good"), capital_called(2))

    async def halted() -> bool:
        return bad in projector.consumer.halted

    await wait_until(halted, "the bus consumer to halt the fund")
    assert "v2: hash chain broken" in projector.consumer.halted[bad]
    assert counter(HALTED, {"durable": "projector"}) == halted_before + 1
    written = await append(stack.client, good, capital_called(3))
    response = await get_state(stub, good, min_version=written.last_version)
    assert (response.state.version, response.state.called_cents) == (3, 5)
    state = (await get_state(stub, bad)).state
    assert (state.version, state.called_cents) == (2, 1)  # the row stays where it was
