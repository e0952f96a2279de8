"""Batches: several events of one fund in one apply transaction (the bus hands the
projector each fund's events of one fetch together), still exactly once; and the
in-memory state cache never lets a stale state through."""

from __future__ import annotations

import asyncpg
from projector.adapters.event_log import GrpcEventLog
from projector.adapters.fund_table import LiveFundStore
from projector.service_layer.applier import Applier
from projector.service_layer.apply import Outcome
from projector.service_layer.waiters import VersionWaiters
from projector_stack import Stack
from projector_support import (
    append,
    capital_called,
    company_added,
    counter,
    folded_from_log,
    fund_created,
    get_state,
    investment,
    new_fund,
    read_logged,
    wait_all_acknowledged,
    wait_until,
)

DUPLICATES = "fundledger_projector_duplicates_skipped_total"
APPLIED_METRIC = "fundledger_projector_events_applied_total"


async def test_a_batch_is_applied_in_one_transaction_and_redelivery_is_a_no_op(
    stack: Stack,
) -> None:
    projector = await stack.projector(consumer_enabled=False, catchup_enabled=False)
    fund = new_fund()
    await append(
        stack.client,
        fund,
        fund_created(),
        capital_called(10),
        capital_called(20),
        capital_called(5),
    )
    events = await stack.client.read_stream(fund)
    commits: list[Outcome] = []

    async def count(outcome: Outcome) -> None:
        commits.append(outcome)

    projector.applier.after_commit = count
    await projector.bus_handler.handle(events)
    assert [(c.applied, c.version) for c in commits] == [(4, 4)]  # one transaction

    duplicates_before = counter(DUPLICATES)
    await projector.bus_handler.handle(events)  # redelivered whole
    await projector.bus_handler.handle(events[1:3])  # or in part
    assert [(c.applied, c.duplicates) for c in commits[1:]] == [(0, 4), (0, 2)]
    assert counter(DUPLICATES) - duplicates_before == 6
    state = (await get_state(stack.stub(projector), fund)).state
    assert (state.version, state.called_cents) == (4, 35)


async def test_a_gap_inside_a_batch_is_filled_from_the_log(stack: Stack) -> None:
    projector = await stack.projector(consumer_enabled=False, catchup_enabled=False)
    fund = new_fund()
    await append(
        stack.client, fund, fund_created(), capital_called(1), capital_called(2), capital_called(4)
    )
    v1, v2, v3, v4 = await read_logged(stack.client, fund)
    await projector.applier.apply(fund, [v1])

    outcome = await projector.applier.apply(fund, [v4, v2])  # v3 lost, v4 first

    assert (outcome.applied, outcome.fetched, outcome.version) == (3, 1, 4)
    assert outcome.position == v4.position
    state = (await get_state(stack.stub(projector), fund)).state
    assert (state.version, state.called_cents) == (4, 7)
    late = await projector.applier.apply(fund, [v3])
    assert (late.applied, late.duplicates) == (0, 1)


async def test_a_stale_cached_state_is_never_written_over_another_writers_commit(
    stack: Stack,
) -> None:
    # Two appliers on one table, as two replicas: each caches what it committed.
    projector = await stack.projector(consumer_enabled=False, catchup_enabled=False)
    other_store = LiveFundStore(projector.pool, 2)
    other = Applier(other_store, GrpcEventLog(stack.client), VersionWaiters())
    fund = new_fund()
    await append(
        stack.client, fund, fund_created(), capital_called(1), capital_called(2), capital_called(4)
    )
    v1, v2, v3, v4 = await read_logged(stack.client, fund)
    await projector.applier.apply(fund, [v1, v2])  # cached at v2 here
    await other.apply(fund, [v3])  # the row moves to v3 behind its back
    await other_store.close()

    outcome = await projector.applier.apply(fund, [v4])

    assert (outcome.applied, outcome.version) == (1, 4)
    state = (await get_state(stack.stub(projector), fund)).state
    assert (state.version, state.called_cents) == (4, 7)
    assert state == await folded_from_log(stack.client, fund)
    # The version 3 the other replica wrote is a duplicate here now.
    again = await projector.applier.apply(fund, [v3])
    assert (again.applied, again.duplicates) == (0, 1)


async def test_a_hand_edited_row_at_another_version_is_read_not_the_cache(stack: Stack) -> None:
    projector = await stack.projector(consumer_enabled=False, catchup_enabled=False)
    fund = new_fund()
    await append(stack.client, fund, fund_created(), capital_called(1), capital_called(2))
    v1, v2, v3 = await read_logged(stack.client, fund)
    await projector.applier.apply(fund, [v1, v2])
    conn = await asyncpg.connect(stack.dsn)
    try:
        # Move the row back to v1 (as a rebuild from an older log position would
        # leave it): the cached v2 must not be used for v3.
        state_v1 = await conn.fetchval(
            "SELECT state FROM projector.fund_state WHERE fund_id = $1", fund
        )
        await conn.execute(
            "UPDATE projector.fund_state SET version = 1, position = $2, "
            "state = jsonb_set(jsonb_set($3::jsonb, '{version}', '1'), '{called_cents}', '0') "
            "WHERE fund_id = $1",
            fund,
            v1.position,
            state_v1,
        )
    finally:
        await conn.close()

    outcome = await projector.applier.apply(fund, [v3])

    assert (outcome.applied, outcome.fetched, outcome.version) == (2, 1, 3)
    state = (await get_state(stack.stub(projector), fund)).state
    assert (state.version, state.called_cents) == (3, 3)


async def test_a_crash_between_commit_and_ack_of_a_batch_applies_it_once(stack: Stack) -> None:
    first = await stack.projector(catchup_enabled=False, ack_wait_seconds=2.0)
    commits: list[Outcome] = []

    async def crash_before_ack(outcome: Outcome) -> None:
        commits.append(outcome)
        raise RuntimeError("simulated crash after the commit, before the ack")

    first.applier.after_commit = crash_before_ack
    fund = new_fund()
    # One append of four events: they reach the bus together.
    written = await append(
        stack.client,
        fund,
        fund_created(),
        company_added("acme", "Acme"),
        investment("acme", 2_500),
        investment("acme", 500),
    )

    async def all_committed() -> bool:
        # One fetch may carry only some of them; the rest follow on redelivery.
        return sum(c.applied for c in commits) >= 4

    await wait_until(all_committed, "the four events committed (never acknowledged)")
    await first.server.stop(0.5)
    assert first.consumer.delivered == 0
    assert sum(c.applied for c in commits) == 4

    applied_before = counter(APPLIED_METRIC)
    duplicates_before = counter(DUPLICATES)
    second = await stack.projector(catchup_enabled=False, ack_wait_seconds=2.0)
    response = await get_state(stack.stub(second), fund, min_version=written.last_version)
    assert response.state.invested_cents == 3_000

    await wait_all_acknowledged(stack.nats_url, stack.bus["bus_stream"])
    assert counter(APPLIED_METRIC) == applied_before  # nothing applied twice
    assert counter(DUPLICATES) - duplicates_before >= 4

    async def delivered() -> bool:
        return second.consumer.delivered >= 4

    await wait_until(delivered, "the second instance to count its acknowledged deliveries")
