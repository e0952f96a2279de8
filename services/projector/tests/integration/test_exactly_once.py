"""The exactly-once apply path: duplicates, gaps, a crash between commit and ack (FM-12),
and an event about a company not yet added (FM-17)."""

from __future__ import annotations

import asyncio

from projector.service_layer.apply import Outcome
from projector_stack import Stack
from projector_support import (
    append,
    capital_called,
    company_added,
    counter,
    fund_created,
    get_state,
    investment,
    new_fund,
    read_logged,
    wait_all_acknowledged,
)

DUPLICATES = "fundledger_projector_duplicates_skipped_total"
GAPS = "fundledger_projector_gaps_filled_total"
APPLIED = "fundledger_projector_events_applied_total"


async def test_a_duplicate_delivery_is_applied_once(stack: Stack) -> None:
    # No bus, no catch-up: this test alone drives the apply path.
    projector = await stack.projector(consumer_enabled=False, catchup_enabled=False)
    fund = new_fund()
    await append(stack.client, fund, fund_created(), investment("acme", 1_000))
    first, second = await read_logged(stack.client, fund)
    duplicates_before = counter(DUPLICATES)

    await projector.applier.apply(fund, [first])
    applied = await projector.applier.apply(fund, [second])
    again = await projector.applier.apply(fund, [second])
    both_again = await projector.applier.apply(fund, [second, first])

    assert (applied.applied, applied.duplicates, applied.version) == (1, 0, 2)
    assert (again.applied, again.duplicates, again.version) == (0, 1, 2)
    assert (both_again.applied, both_again.duplicates) == (0, 2)
    assert counter(DUPLICATES) - duplicates_before == 3
    state = (await get_state(stack.stub(projector), fund)).state
    assert (state.version, state.invested_cents) == (2, 1_000)


async def test_a_gap_is_filled_from_the_event_store(stack: Stack) -> None:
    projector = await stack.projector(consumer_enabled=False, catchup_enabled=False)
    fund = new_fund()
    await append(stack.client, fund, fund_created(), capital_called(10), capital_called(20))
    v1, _v2, v3 = await read_logged(stack.client, fund)
    gaps_before = counter(GAPS)

    await projector.applier.apply(fund, [v1])
    filled = await projector.applier.apply(fund, [v3])  # v2 never delivered

    assert (filled.applied, filled.fetched, filled.version) == (2, 1, 3)
    assert filled.position == v3.position
    assert counter(GAPS) - gaps_before == 1
    state = (await get_state(stack.stub(projector), fund)).state
    assert (state.version, state.called_cents) == (3, 30)

    # An out-of-order delivery of the missing event later is just a duplicate.
    late = await projector.applier.apply(fund, [_v2])
    assert (late.applied, late.duplicates) == (0, 1)


async def test_a_crash_between_commit_and_ack_applies_the_event_once(stack: Stack) -> None:
    # Catch-up off: the bus redelivery alone must be handled exactly once.
    # A short ack wait: messages the stopped instance had fetched come back sooner.
    first = await stack.projector(catchup_enabled=False, ack_wait_seconds=2.0)
    committed = asyncio.Event()

    async def crash_before_ack(outcome: Outcome) -> None:
        committed.set()
        raise RuntimeError("simulated crash after the commit, before the ack")

    first.applier.after_commit = crash_before_ack
    fund = new_fund()
    await append(stack.client, fund, fund_created(), company_added("acme", "Acme"))
    written = await append(stack.client, fund, investment("acme", 2_500))
    await asyncio.wait_for(committed.wait(), 15)
    # The commit happened; no message was acknowledged. "Kill" this instance.
    await first.server.stop(0.5)
    assert first.consumer.delivered == 0

    duplicates_before = counter(DUPLICATES)
    second = await stack.projector(catchup_enabled=False, ack_wait_seconds=2.0)  # same durable
    response = await get_state(stack.stub(second), fund, min_version=written.last_version)

    assert response.state.invested_cents == 2_500
    assert response.state.companies[0].invested_cents == 2_500

    await wait_all_acknowledged(stack.nats_url, stack.bus["bus_stream"])
    # The redelivered event(s) the first instance had committed were skipped.
    assert counter(DUPLICATES) > duplicates_before
    state = (await get_state(stack.stub(second), fund)).state
    assert (state.version, state.invested_cents) == (3, 2_500)


async def test_investment_before_company_added_keeps_the_money(stack: Stack) -> None:
    projector = await stack.projector()
    stub = stack.stub(projector)
    fund = new_fund()
    await append(stack.client, fund, fund_created(), investment("beta", 700_000))
    written = await append(stack.client, fund, company_added("beta", "Beta Inc", cap=9_000))

    state = (await get_state(stub, fund, min_version=written.last_version)).state

    assert state.invested_cents == 700_000
    [company] = state.companies
    assert (company.company_id, company.name) == ("beta", "Beta Inc")
    assert (company.invested_cents, company.allocation_cap_cents) == (700_000, 9_000)
