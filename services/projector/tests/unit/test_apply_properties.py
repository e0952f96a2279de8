"""Property test of the exactly-once apply under business time: whatever batches a fund's events
arrive in (out of order, duplicated, with holes, backdated against the stored state), the row
always holds exactly the fold from scratch of the versions it stands at, and ends at the fold
from scratch of the whole stream. In-memory fakes of the table and the log (the real ones are
exercised by the integration tests); the apply logic and the kernel fold are the real ones."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fund_strategies import FUND_CREATED, PAYLOADS, Draw
from fundledger_kernel.fund import FOLD_VERSION, FundState, empty_state, state_to_json
from fundledger_kernel.fund.fold_input import LoggedEvent, fold_logged
from hypothesis import given, settings
from hypothesis import strategies as st
from projector.domain.model import StoredRow, Written
from projector.service_layer.apply import apply_events
from projector.service_layer.state_cache import StateCache

FUND = "fund-p"
START = datetime(2025, 1, 1, tzinfo=UTC)


@dataclass
class Row:
    version: int
    position: int
    state: str


class Table:
    """One fund's row; a lock block commits its write when it ends, drops it when it raises."""

    def __init__(self) -> None:
        self.row: Row | None = None
        self.writes = 0

    async def write_at(
        self,
        state: FundState,
        position: int,
        *,
        version: int,
        tenant: str | None,
        chain_hash: bytes | None,
    ) -> Written | None:
        if self.row is None or self.row.version != version:
            return None
        self._store(state, position)
        return Written(datetime.now(UTC), tenant)

    @contextlib.asynccontextmanager
    async def lock(
        self, fund_id: str, *, create: bool, known_version: int
    ) -> AsyncIterator[Locked | None]:
        if self.row is None and not create:
            yield None
            return
        row = self.row or Row(0, 0, json.dumps(state_to_json(empty_state(fund_id))))
        text = None if row.version == known_version else row.state
        locked = Locked(self, StoredRow(row.version, row.position, FOLD_VERSION, text))
        yield locked  # an exception here leaves the row as it was
        if locked.pending is not None:
            self._store(*locked.pending)

    def _store(self, state: FundState, position: int) -> None:
        self.row = Row(state.version, position, json.dumps(state_to_json(state)))
        self.writes += 1


class Locked:
    def __init__(self, table: Table, row: StoredRow) -> None:
        self._table = table
        self.row = row
        self.pending: tuple[FundState, int] | None = None

    async def write(
        self, state: FundState, position: int, tenant: str | None, *, chain_hash: bytes | None
    ) -> Written:
        self.pending = (state, position)
        return Written(datetime.now(UTC), tenant)


class Log:
    def __init__(self, events: list[LoggedEvent]) -> None:
        self._events = events

    async def read_stream(
        self, fund_id: str, *, from_version: int, max_count: int
    ) -> list[LoggedEvent]:
        return [e for e in self._events if e.version >= from_version][:max_count]

    async def read_funds(self, *, from_position: int, max_count: int) -> list[LoggedEvent]:
        raise NotImplementedError

    async def head_position(self) -> int:
        return len(self._events)


@st.composite
def histories(draw: Draw[Any]) -> list[LoggedEvent]:
    raw = [("FUND_CREATED", draw(FUND_CREATED))]
    types = draw(st.lists(st.sampled_from(sorted(PAYLOADS)), min_size=1, max_size=20))
    raw += [(t, draw(PAYLOADS[t])) for t in types]
    events, moment = [], START
    for version, (event_type, data) in enumerate(raw, start=1):
        moment += timedelta(hours=draw(st.integers(0, 48)))
        # Often backdated, by up to ~3 months; equal effective times happen too.
        back = draw(st.one_of(st.just(0), st.integers(0, 24 * 90)))
        events.append(
            LoggedEvent(
                stream_id=FUND,
                version=version,
                position=version * 10,
                event_id=f"e{version}",
                event_type=event_type,
                data=json.dumps(data).encode(),
                recorded_at=moment,
                effective_at=moment - timedelta(hours=back),
            )
        )
    return events


def scratch(events: list[LoggedEvent], version: int) -> FundState:
    return fold_logged(empty_state(FUND), events[:version])


@settings(max_examples=150, deadline=None)
@given(data=st.data(), events=histories())
def test_any_delivery_order_leaves_the_fold_from_scratch(
    data: st.DataObject, events: list[LoggedEvent]
) -> None:
    versions = st.integers(1, len(events))
    # Deliveries as the bus and the catch-up make them: any versions, any order, repeated.
    batches = data.draw(st.lists(st.lists(versions, min_size=1, max_size=6), max_size=12))
    with_cache = data.draw(st.booleans())

    async def run() -> None:
        table, log, cache = Table(), Log(events), StateCache()
        for batch in [*batches, list(range(1, len(events) + 1))]:  # then a full catch-up
            await apply_events(
                table,
                log,
                FUND,
                [events[v - 1] for v in batch],
                cache=cache if with_cache else None,
            )
            row = table.row
            assert row is not None
            stored = json.loads(row.state)
            assert stored == state_to_json(scratch(events, row.version))
            assert row.position == events[row.version - 1].position
        assert table.row is not None
        assert table.row.version == len(events)

    asyncio.run(run())


def test_a_backdated_event_refolds_and_one_on_top_does_not() -> None:
    created = json.dumps({"name": "F", "committed_capital_cents": 10, "currency": "USD"})
    call = json.dumps({"amount_cents": 1})

    def logged(version: int, event_type: str, body: str, effective_day: int) -> LoggedEvent:
        at = START + timedelta(days=effective_day)
        return LoggedEvent(
            FUND, version, version, f"e{version}", event_type, body.encode(),
            recorded_at=START + timedelta(days=30 + version), effective_at=at,
        )  # fmt: skip

    events = [
        logged(1, "FUND_CREATED", created, 0),
        logged(2, "CAPITAL_CALLED", call, 10),
        logged(3, "CAPITAL_CALLED", call, 5),  # before v2's effective time
        logged(4, "CAPITAL_CALLED", call, 20),  # after everything
    ]

    async def run() -> None:
        table, log, cache = Table(), Log(events), StateCache()
        first = await apply_events(table, log, FUND, events[:2], cache=cache)
        assert first.refold_cause is None
        backdated = await apply_events(table, log, FUND, events[2:3], cache=cache)
        assert (backdated.refold_cause, backdated.applied, backdated.version) == ("backdated", 1, 3)
        assert backdated.state == scratch(events, 3)
        on_top = await apply_events(table, log, FUND, events[3:], cache=cache)
        assert on_top.refold_cause is None
        assert on_top.state == scratch(events, 4)

    asyncio.run(run())
