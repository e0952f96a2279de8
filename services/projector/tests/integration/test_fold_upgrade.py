"""A fold version change: rows the older fold wrote are rebuilt at start-up in the background
(RebuildProjection's rebuild), and never served as current meanwhile."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import asyncpg
from fundledger_kernel.fund import FOLD_VERSION, state_from_json
from projector_stack import Stack
from projector_support import (
    append,
    company_added,
    counter,
    effective,
    folded_from_log,
    fund_created,
    get_state,
    new_fund,
    scratch_state,
    stored_row,
    valuation,
    wait_until,
)

OLD_FOLD = 1
# The JSON fold 1 wrote: these keys and no others.
FOLD_1_KEYS = {
    "fold_version", "fund_id", "name", "currency", "vintage_year", "committed_cents",
    "called_cents", "invested_cents", "distributed_cents", "companies", "forecasts", "actuals",
    "file_ids", "version", "last_event_at", "skipped_events",
}  # fmt: skip
FOLD_1_COMPANY_KEYS = {
    "company_id", "name", "sector", "invested_cents", "valuation_cents", "ownership_bps",
    "allocation_cap_cents", "planned_reserves_cents", "deployed_reserves_cents",
    "distributed_cents",
}  # fmt: skip


def day(month: int, d: int) -> datetime:
    return datetime(2025, month, d, tzinfo=UTC)


def as_fold_1(state: dict[str, Any], latest_recorded_mark: int) -> dict[str, Any]:
    """The row fold 1 would have written: its number, its keys, and its meaning of "latest
    valuation" (the latest recorded)."""
    old = {k: v for k, v in state.items() if k in FOLD_1_KEYS}
    old["fold_version"] = OLD_FOLD
    old["companies"] = [
        {**{k: v for k, v in c.items() if k in FOLD_1_COMPANY_KEYS}}
        | {"valuation_cents": latest_recorded_mark}
        for c in state["companies"]
    ]
    return old


async def write_as_fold_1(dsn: str, fund: str, mark: int, *, column: bool) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        text = await conn.fetchval(
            "SELECT state::text FROM projector.fund_state WHERE fund_id = $1", fund
        )
        await conn.execute(
            "UPDATE projector.fund_state SET state = $2::jsonb, "
            "fold_version = CASE WHEN $3 THEN $4 ELSE fold_version END WHERE fund_id = $1",
            fund,
            json.dumps(as_fold_1(json.loads(text), mark)),
            column,
            OLD_FOLD,
        )
    finally:
        await conn.close()


async def test_rows_of_an_older_fold_are_rebuilt_on_start_and_never_served(stack: Stack) -> None:
    first = await stack.projector()
    funds = [new_fund() for _ in range(3)]
    for n, fund in enumerate(funds):
        written = await append(
            stack.client,
            fund,
            effective(fund_created(f"F{n}"), day(1, 1)),
            effective(company_added("c", "C"), day(1, 1)),
            effective(valuation("c", 100 * (n + 1)), day(10, 31)),
            effective(valuation("c", 7), day(9, 30)),  # backdated: recorded last
        )
        await get_state(stack.stub(first), fund, min_version=written.last_version)
    await first.server.stop(1.0)
    stack.projectors.remove(first)
    # What fold 1 left: its number in the column and the JSON, or (a partial restore, a hand
    # edit) only in the JSON.
    for fund in funds[:2]:
        await write_as_fold_1(stack.dsn, fund, 7, column=True)
    await write_as_fold_1(stack.dsn, funds[2], 7, column=False)
    before = {fund: await stored_row(stack.dsn, fund) for fund in funds}

    # A replica with no background work answers from the log, folded by this fold, and
    # writes nothing.
    reader = stack.stub(await stack.projector(consumer_enabled=False, catchup_enabled=False))
    for n, fund in enumerate(funds):
        state = (await get_state(reader, fund)).state
        assert state.fold_version == FOLD_VERSION
        assert [c.valuation_cents for c in state.companies] == [100 * (n + 1)]
        assert state == await folded_from_log(stack.client, fund)
        assert await stored_row(stack.dsn, fund) == before[fund]

    rebuilds = counter("fundledger_projector_rebuilds_total")
    upgrader = await stack.projector()  # finds the old rows on start

    async def upgraded() -> bool:
        # The start-up rebuild swaps a table of this fold in; the bus consumer may refold a
        # row in place before it does (apply.py), so the rows alone do not say it finished.
        if counter("fundledger_projector_rebuilds_total") != rebuilds + 1:
            return False
        for fund in funds:
            row = await stored_row(stack.dsn, fund)
            assert row is not None
            if (row["fold_version"], json.loads(row["state"])["fold_version"]) != (
                FOLD_VERSION,
                FOLD_VERSION,
            ):
                return False
        return True

    await wait_until(upgraded, "the rows of fold 1 to be rebuilt")
    for n, fund in enumerate(funds):
        row = await stored_row(stack.dsn, fund)
        assert row is not None
        assert state_from_json(json.loads(row["state"])) == await scratch_state(stack.client, fund)
        expected = await folded_from_log(stack.client, fund)
        for stub in (reader, stack.stub(upgrader)):
            state = (await get_state(stub, fund)).state
            assert state == expected
            assert [c.valuation_cents for c in state.companies] == [100 * (n + 1)]
