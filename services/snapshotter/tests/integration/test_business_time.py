"""Business time against the real stack: two-axis GetFundStateAt, snapshots made unusable (never
wrong) by a backdated event, GetRestatement, the timeline on the effective clock and the
re-taking of snapshots of an older fold."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg
import grpc
import pytest
from fundledger.eventstore.v1 import events_pb2
from fundledger.fund.v1 import events_pb2 as fund_events
from fundledger.snapshotter.v1 import snapshotter_pb2 as pb
from fundledger_kernel.fund import FOLD_VERSION
from snapshotter_stack import Stack
from snapshotter_support import (
    append_spaced,
    company_added,
    ev,
    fund_created,
    investment,
    new_fund,
    reason_of,
)

Q2 = datetime(2025, 6, 30, tzinfo=UTC)
AUG = datetime(2025, 8, 15, tzinfo=UTC)
Q3 = datetime(2025, 9, 30, tzinfo=UTC)


def on(event: events_pb2.EventData, effective: datetime) -> events_pb2.EventData:
    event.effective_at.FromDatetime(effective)
    return event


def mark(valuation: int, effective: datetime) -> events_pb2.EventData:
    return on(ev("VALUATION_UPDATED", company_id="c1", valuation_cents=valuation), effective)


async def state_at(
    stack: Stack, fund_id: str, effective: datetime | None, known: datetime | None
) -> pb.GetFundStateAtResponse:
    request = pb.GetFundStateAtRequest(fund_id=fund_id)
    if effective is not None:
        request.effective_at.FromDatetime(effective)
    if known is not None:
        request.known_at.FromDatetime(known)
    response: pb.GetFundStateAtResponse = await stack.api.GetFundStateAt(request)
    return response


def valuation(response: pb.GetFundStateAtResponse) -> int:
    return {c.company_id: c.valuation_cents for c in response.state.companies}["c1"]


async def history(stack: Stack) -> tuple[str, list[datetime]]:
    """v1-3 set up (effective Q2), v4 the Q3 mark (1,000), v5 a mark effective 31 October
    (2,000), a snapshot at v5; then, recorded last, v6 a write-down backdated to August (400)."""
    fund_id = new_fund()
    done = await append_spaced(
        stack.store_stub,
        fund_id,
        [
            on(fund_created(), Q2),
            on(company_added("c1"), Q2),
            on(investment("c1", 500), Q2),
            mark(1_000, Q3),
            mark(2_000, datetime(2025, 10, 31, tzinfo=UTC)),
        ],
    )
    # Snapshot at v5: effective_through = 31 October.
    await stack.api.CreateSnapshot(pb.CreateSnapshotRequest(fund_id=fund_id, at_version=5))
    done += await append_spaced(stack.store_stub, fund_id, [mark(400, AUG)])
    return fund_id, [a.recorded_at for a in done]


async def test_two_clocks_and_a_snapshot_a_backdated_event_makes_unusable(stack: Stack) -> None:
    fund_id, t = await history(stack)
    # As of Q3, known before the write-down: the Q3 mark.
    before = await state_at(stack, fund_id, Q3, t[4])
    assert valuation(before) == 1_000
    assert before.version == 4  # the highest version selected (v5 is effective later)
    assert before.effective_at.ToDatetime(tzinfo=UTC) == Q3
    assert before.known_at.ToDatetime(tzinfo=UTC) == t[4]
    # Known now: the Q3 mark still wins over the August write-down (later effective).
    assert valuation(await state_at(stack, fund_id, Q3, None)) == 1_000
    # As of 31 August: only the write-down (it is effective then), known now.
    assert valuation(await state_at(stack, fund_id, datetime(2025, 8, 31, tzinfo=UTC), None)) == 400
    # Known before it was recorded: no mark yet at 31 August.
    early = await state_at(stack, fund_id, datetime(2025, 8, 31, tzinfo=UTC), t[4])
    assert valuation(early) == 0

    # The v5 snapshot (through 31 October) answers "now, as known at t[4]" ...
    known = await state_at(stack, fund_id, None, t[4])
    assert (known.snapshot_version, known.events_replayed, valuation(known)) == (5, 0, 2_000)
    # ... but not once the backdated v6 is known: it sorts before the snapshot, so the answer
    # is folded from scratch (the right answer, never the snapshot's).
    now = await state_at(stack, fund_id, None, None)
    assert (now.snapshot_version, now.events_replayed, now.version) == (0, 6, 6)
    assert valuation(now) == 2_000
    assert now.state.last_effective_at.ToDatetime(tzinfo=UTC) == datetime(2025, 10, 31, tzinfo=UTC)

    # A snapshot at v6 is a complete prefix folded in effective order.
    made = await stack.api.CreateSnapshot(pb.CreateSnapshotRequest(fund_id=fund_id, at_version=6))
    assert made.snapshot.effective_through.ToDatetime(tzinfo=UTC) == datetime(
        2025, 10, 31, tzinfo=UTC
    )
    again = await state_at(stack, fund_id, None, None)
    assert (again.snapshot_version, again.events_replayed, valuation(again)) == (6, 0, 2_000)


async def test_restatement_of_q3_after_a_late_write_down(stack: Stack) -> None:
    fund_id, t = await history(stack)
    # A write-down effective at Q3 itself, recorded after everything else.
    late = await append_spaced(stack.store_stub, fund_id, [mark(300, Q3)])
    request = pb.GetRestatementRequest(fund_id=fund_id)
    request.effective_at.FromDatetime(Q3)
    request.known_at_before.FromDatetime(t[4])
    answer = await stack.api.GetRestatement(request)
    assert answer.known_at_after.ToDatetime(tzinfo=UTC) >= late[0].recorded_at
    assert {c.company_id: c.valuation_cents for c in answer.before.companies}["c1"] == 1_000
    assert {c.company_id: c.valuation_cents for c in answer.after.companies}["c1"] == 300
    changes = {c.figure: (c.before, c.after, c.delta) for c in answer.changes}
    assert changes["total_value_cents"] == (1_000, 300, -700)
    assert "called_cents" not in changes
    (company,) = answer.companies
    assert company.company_id == "c1"
    by_figure = {c.figure: (c.before, c.after) for c in company.changes}
    assert by_figure["valuation_cents"] == (1_000, 300)
    assert by_figure["moic_bps"] == (20_000, 6_000)
    # The explaining events: recorded after the earlier known time, effective by Q3.
    assert [e.event.version for e in answer.events] == [6, 7]
    write_down = fund_events.ValuationUpdated()
    assert answer.events[1].payload.Unpack(write_down)
    assert write_down.valuation_cents == 300

    for field in ("effective_at", "known_at_before"):
        bad = pb.GetRestatementRequest()
        bad.CopyFrom(request)
        bad.ClearField(field)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stack.api.GetRestatement(bad)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert reason_of(caught.value) == "FIELD_REQUIRED"
    backwards = pb.GetRestatementRequest()
    backwards.CopyFrom(request)
    backwards.known_at_after.FromDatetime(Q2)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stack.api.GetRestatement(backwards)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_timeline_by_effective_time_and_its_tokens(stack: Stack) -> None:
    fund_id, _ = await history(stack)
    request = pb.GetTimelineRequest(fund_id=fund_id, order=pb.TIMELINE_ORDER_EFFECTIVE, page_size=4)
    first = await stack.api.GetTimeline(request)
    # Newest effective first: 31 Oct (v5), Q3 (v4), Aug (v6), then the Q2 set-up (v3, v2, v1).
    assert [e.event.version for e in first.entries] == [5, 4, 6, 3]
    request.page_token = first.next_page_token
    rest = await stack.api.GetTimeline(request)
    assert [e.event.version for e in rest.entries] == [2, 1]
    assert not rest.next_page_token
    # A token of the effective order is refused by the recorded one (and by another window).
    for other in (
        pb.GetTimelineRequest(fund_id=fund_id, page_size=4, page_token=first.next_page_token),
        pb.GetTimelineRequest(
            fund_id=fund_id,
            order=pb.TIMELINE_ORDER_EFFECTIVE,
            page_size=4,
            page_token=first.next_page_token,
            start_time=request.start_time,
            end_time=first.entries[0].event.effective_at,
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stack.api.GetTimeline(other)
        assert reason_of(caught.value) == "INVALID_PAGE_TOKEN"
    # A window on the effective clock.
    window = pb.GetTimelineRequest(fund_id=fund_id, order=pb.TIMELINE_ORDER_EFFECTIVE)
    window.start_time.FromDatetime(AUG)
    window.end_time.FromDatetime(Q3)
    assert [e.event.version for e in (await stack.api.GetTimeline(window)).entries] == [4, 6]


async def test_snapshots_of_an_older_fold_are_ignored_then_re_taken(stack: Stack) -> None:
    fund_id, _ = await history(stack)
    conn = await asyncpg.connect(stack.dsn)
    try:
        # Pretend v3's snapshot was written by the previous fold (a wrong state on purpose).
        await conn.execute(
            "INSERT INTO snapshotter.snapshots (snapshot_id, fund_id, version, position, "
            "event_time, fold_version, trigger, events_since_previous, state) "
            "SELECT $1, $2, 3, 1, now(), $3, 'EVENT_COUNT', 0, '{}'::jsonb",
            uuid.uuid4(),
            fund_id,
            FOLD_VERSION - 1,
        )
        answer = await stack.api.GetFundStateAt(
            pb.GetFundStateAtRequest(fund_id=fund_id, at_version=3)
        )
        assert (answer.snapshot_version, answer.events_replayed) == (0, 3)
        made = await stack.snapshotter.refold.run_once()
        assert made >= 1
        rows = await conn.fetch(
            "SELECT fold_version, effective_through FROM snapshotter.snapshots "
            "WHERE fund_id = $1 AND version = 3 ORDER BY fold_version",
            fund_id,
        )
        assert [r["fold_version"] for r in rows] == [FOLD_VERSION - 1, FOLD_VERSION]
        assert rows[1]["effective_through"] == Q2
        assert await stack.snapshotter.refold.run_once() == 0
    finally:
        await conn.close()
    answer = await stack.api.GetFundStateAt(pb.GetFundStateAtRequest(fund_id=fund_id, at_version=3))
    assert (answer.snapshot_version, answer.events_replayed) == (3, 0)


async def test_bad_clocks_are_invalid_argument_naming_the_field(stack: Stack) -> None:
    fund_id, _ = await history(stack)
    request = pb.GetFundStateAtRequest(fund_id=fund_id)
    request.effective_at.seconds = 10**12  # past year 9999
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stack.api.GetFundStateAt(request)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert reason_of(caught.value) == "FIELD_MALFORMED"
    request = pb.GetFundStateAtRequest(fund_id=fund_id)
    request.known_at.seconds = -(10**12)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stack.api.GetFundStateAt(request)
    assert reason_of(caught.value) == "FIELD_MALFORMED"
    # Nothing effective by then (known now): NOT_FOUND, as a time before the first event.
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await state_at(stack, fund_id, datetime(2024, 1, 1, tzinfo=UTC), None)
    assert reason_of(caught.value) == "FUND_NOT_FOUND_AT_TIME"
