"""The log is the truth (FM-13): a bus that lost its messages costs nothing."""

from __future__ import annotations

import asyncio
from typing import Any

import nats
from projector_stack import start_stack
from projector_support import (
    append,
    capital_called,
    fund_created,
    get_state,
    new_fund,
    wait_until,
)

from tests.support.event_store import EventStoreFactory
from tests.support.secure import SecureEnv


async def test_a_wiped_bus_store_is_recovered_from_the_log(
    event_store_factory: EventStoreFactory, secure_env: SecureEnv, fresh_dsn: str, fresh_nats: Any
) -> None:
    stack = await start_stack(event_store_factory, secure_env, fresh_dsn, fresh_nats.url)
    try:
        first = await stack.projector()
        early = new_fund()
        written = await append(stack.client, early, fund_created("Early"), capital_called(1))
        await get_state(stack.stub(first), early, min_version=written.last_version)
        await first.server.stop(0.5)

        # Written while no projector runs: published to the bus, then lost with it.
        lost = new_fund()
        await append(stack.client, lost, fund_created("Lost"), capital_called(40))
        await append(stack.client, early, capital_called(2))
        nc = await nats.connect(fresh_nats.url)
        try:
            js = nc.jetstream()

            async def published() -> bool:
                info = await js.stream_info(stack.bus["bus_stream"])
                return info.state.messages >= 5

            await wait_until(published, "the relay to publish every event")
        finally:
            await nc.close()
        await asyncio.to_thread(fresh_nats.wipe_store)

        second = await stack.projector()
        stub = stack.stub(second)
        after = new_fund()
        await append(stack.client, after, fund_created("After"), capital_called(7))

        lost_state = (await get_state(stub, lost, min_version=2, deadline=20)).state
        early_state = (await get_state(stub, early, min_version=3, deadline=20)).state
        after_state = (await get_state(stub, after, min_version=2, deadline=20)).state
        assert (lost_state.name, lost_state.called_cents) == ("Lost", 40)
        assert early_state.called_cents == 3
        assert (after_state.name, after_state.called_cents) == ("After", 7)
    finally:
        await stack.close()
