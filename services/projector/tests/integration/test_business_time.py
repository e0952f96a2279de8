"""Business time in the projection: a fund's events fold in (effective_at, version) order, so a
backdated event arriving late — over the bus, by catch-up, in a rebuild — leaves exactly the
state a fold from scratch of everything known gives; mixed schema versions fold as the kernel
folds them."""

from __future__ import annotations

import asyncio
import json
import random
from datetime import UTC, datetime, timedelta

from fundledger.eventstore.v1 import events_pb2
from fundledger.fund.v1 import events_pb2 as fund_pb
from fundledger.fund.v1 import state_pb2
from fundledger.projector.v1 import projector_pb2 as pb
from fundledger_kernel.fund import state_from_json
from projector_stack import Stack
from projector_support import (
    append,
    capital_called,
    company_added,
    counter,
    effective,
    folded_from_log,
    fund_created,
    get_state,
    investment,
    investment_v2,
    new_fund,
    scratch_state,
    stored_row,
    valuation,
    valuation_v2,
)

REFOLDS = "fundledger_projector_refolds_total"
BACKDATED = {"cause": "backdated"}


def day(month: int, d: int) -> datetime:
    return datetime(2025, month, d, tzinfo=UTC)


def company(state: state_pb2.FundState, company_id: str) -> state_pb2.CompanyState:
    [found] = [c for c in state.companies if c.company_id == company_id]
    return found


async def assert_row_is_the_fold_from_scratch(stack: Stack, fund: str) -> None:
    """The stored row (not only the answer) holds exactly the fold from scratch."""
    row = await stored_row(stack.dsn, fund)
    assert row is not None
    assert state_from_json(json.loads(row["state"])) == await scratch_state(stack.client, fund)


async def _history(stack: Stack, fund: str) -> int:
    written = await append(
        stack.client,
        fund,
        effective(fund_created("Clocks"), day(1, 1)),
        effective(company_added("acme", "Acme"), day(1, 2)),
        effective(investment("acme", 1_000_000), day(2, 1)),
        effective(valuation("acme", 3_000_000), day(10, 31)),
    )
    return written.last_version


async def test_a_backdated_valuation_via_the_bus_keeps_the_later_effective_one(
    stack: Stack,
) -> None:
    projector = await stack.projector(catchup_enabled=False)  # the bus is the only way in
    stub = stack.stub(projector)
    fund = new_fund()
    first = await get_state(stub, fund, min_version=await _history(stack, fund))
    assert company(first.state, "acme").valuation_cents == 3_000_000
    refolds = counter(REFOLDS, BACKDATED)

    # The September mark, recorded after the October one: it belongs before it.
    written = await append(stack.client, fund, effective(valuation("acme", 2_000_000), day(9, 30)))
    state = (await get_state(stub, fund, min_version=written.last_version)).state

    assert state.version == written.last_version == 5
    acme = company(state, "acme")
    assert acme.valuation_cents == 3_000_000  # the latest *effective* mark stays
    assert acme.valuation_effective_at.ToDatetime(tzinfo=UTC) == day(10, 31)
    assert state.last_effective_at.ToDatetime(tzinfo=UTC) == day(10, 31)
    assert state == await folded_from_log(stack.client, fund)
    await assert_row_is_the_fold_from_scratch(stack, fund)
    assert counter(REFOLDS, BACKDATED) == refolds + 1

    # Backdated too (recorded now), but now the latest effective one: it replaces the mark,
    # and needs no refold (it sorts after everything the state holds).
    written = await append(
        stack.client,
        fund,
        effective(valuation_v2("acme", 4_000_000, "VALUATION_METHOD_WRITE_DOWN"), day(11, 15)),
    )
    state = (await get_state(stub, fund, min_version=written.last_version)).state
    acme = company(state, "acme")
    assert acme.valuation_cents == 4_000_000
    assert acme.valuation_method == fund_pb.VALUATION_METHOD_WRITE_DOWN
    assert acme.valuation_effective_at.ToDatetime(tzinfo=UTC) == day(11, 15)
    assert state == await folded_from_log(stack.client, fund)
    await assert_row_is_the_fold_from_scratch(stack, fund)
    assert counter(REFOLDS, BACKDATED) == refolds + 1


async def test_a_rebuild_page_by_page_folds_backdated_events_like_a_fold_from_scratch(
    stack: Stack,
) -> None:
    # One event per page: the backdated events reach the rebuild's table after the later-
    # effective ones they sort before.
    projector = await stack.projector(catchup_page_size=1)
    stub = stack.stub(projector, stack.operator_token())
    fund = new_fund()
    await _history(stack, fund)
    written = await append(
        stack.client,
        fund,
        effective(valuation("acme", 2_000_000), day(9, 30)),
        effective(capital_called(500_000), day(3, 1)),
    )
    await get_state(stub, fund, min_version=written.last_version)
    refolds = counter(REFOLDS, BACKDATED)

    rebuilt = await stub.RebuildProjection(pb.RebuildProjectionRequest(), timeout=60)

    assert rebuilt.fund_count == 1
    assert counter(REFOLDS, BACKDATED) >= refolds + 1
    state = (await get_state(stub, fund, min_version=written.last_version)).state
    assert company(state, "acme").valuation_cents == 3_000_000
    assert state == await folded_from_log(stack.client, fund)
    await assert_row_is_the_fold_from_scratch(stack, fund)


async def test_mixed_v1_and_v2_histories_fold_as_the_kernel_folds_them(stack: Stack) -> None:
    projector = await stack.projector()
    stub = stack.stub(projector)
    fund = new_fund()
    old = investment("acme", 1_000_000)
    old.schema_version = 1  # explicitly v1; the unset 0 reads as 1 too
    written = await append(
        stack.client,
        fund,
        fund_created("Shapes"),
        company_added("acme", "Acme"),
        company_added("beta", "Beta"),
        old,
        investment_v2("beta", 500_000, "INSTRUMENT_SAFE"),
        investment_v2("acme", 2_000_000, "INSTRUMENT_EQUITY", 1_000, 20_000_000),
        valuation("acme", 5_000_000),
        valuation_v2("beta", 700_000, "VALUATION_METHOD_MARK_TO_MODEL"),
    )
    state = (await get_state(stub, fund, min_version=written.last_version)).state

    acme, beta = company(state, "acme"), company(state, "beta")
    assert acme.instrument == fund_pb.INSTRUMENT_EQUITY  # v1 upcast to EQUITY
    assert (acme.invested_cents, acme.shares) == (3_000_000, 1_000)
    assert acme.valuation_method == fund_pb.VALUATION_METHOD_UNSPECIFIED  # v1: no method
    assert (beta.instrument, beta.shares) == (fund_pb.INSTRUMENT_SAFE, 0)
    assert (beta.valuation_cents, beta.valuation_method) == (
        700_000,
        fund_pb.VALUATION_METHOD_MARK_TO_MODEL,
    )
    assert state == await folded_from_log(stack.client, fund)
    await assert_row_is_the_fold_from_scratch(stack, fund)


async def test_read_your_writes_holds_for_a_backdated_append(stack: Stack) -> None:
    applier = await stack.projector()
    # A replica that applies nothing: it waits for the version by polling the row.
    reader = await stack.projector(consumer_enabled=False, catchup_enabled=False)
    fund = new_fund()
    await _history(stack, fund)

    written = await append(stack.client, fund, effective(capital_called(250_000), day(3, 1)))
    expected = await folded_from_log(stack.client, fund)
    for stub in (stack.stub(applier), stack.stub(reader)):
        state = (await get_state(stub, fund, min_version=written.last_version)).state
        assert state.version == written.last_version
        assert state.called_cents == 250_000
        assert state == expected


async def test_backdated_appends_raced_into_one_fund_end_with_the_fold_from_scratch(
    stack: Stack,
) -> None:
    # Two replicas share the durable consumer (deliveries of one fund split between them, their
    # applies racing on the row lock) and the catch-up runs too.
    replicas = [await stack.projector(), await stack.projector()]
    fund = new_fund()
    await _history(stack, fund)
    # The state now stands at 31 October: every raced event below is backdated against it.
    refolds = counter(REFOLDS, BACKDATED)
    rng = random.Random(12)
    tasks, per_task = 6, 5

    def backdated() -> datetime:
        return day(2, 2) + timedelta(days=rng.randrange(0, 260), seconds=rng.randrange(86_400))

    plans = [
        [
            effective(
                valuation("acme", rng.randrange(1, 10_000_000))
                if rng.random() < 0.5
                else capital_called(rng.randrange(1, 100_000)),
                backdated(),
            )
            for _ in range(per_task)
        ]
        for _ in range(tasks)
    ]

    async def writer(events: list[events_pb2.EventData]) -> None:
        for data in events:  # one append at a time per task, six tasks at once
            await append(stack.client, fund, data)

    await asyncio.gather(*(writer(p) for p in plans))
    last = 4 + tasks * per_task

    expected = await folded_from_log(stack.client, fund)
    assert expected.version == last
    for replica in replicas:
        state = (await get_state(stack.stub(replica), fund, min_version=last)).state
        assert state == expected
    await assert_row_is_the_fold_from_scratch(stack, fund)
    assert counter(REFOLDS, BACKDATED) > refolds
    assert expected.skipped_events == 0
