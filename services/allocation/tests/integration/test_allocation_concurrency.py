"""FM-16 (docs/failure-modes.md): preview, then commit after someone else's commit.

Two commits validated against the same version must not both land: the append carries the
expected version and the event store's stream head lets exactly one through. The loser gets
ABORTED with the current version and writes nothing.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

import grpc
import pytest
from allocation.adapters.event_log import GrpcEventLog
from allocation.domain.commit_events import OutgoingEvent
from allocation.domain.thresholds import Thresholds
from allocation.service_layer.commit import CommitCommand, Committed, commit
from allocation.service_layer.fund_views import FundViews
from allocation.service_layer.ports import Appended, EventLog
from allocation_stack import Stack
from allocation_support import (
    Company,
    metadata_of,
    new_fund,
    proposal,
    proposals,
    read_from,
    seed_fund,
    stream_version,
)
from fundledger.allocation.v1 import allocation_pb2 as pb
from fundledger_kernel.fund.fold_input import LoggedEvent
from fundledger_platform.errors import Aborted
from fundledger_platform.eventstore_client import EventStoreClient
from prometheus_client import REGISTRY

PORTFOLIO = [Company("a", planned=100), Company("b", planned=100), Company("c", planned=100)]
QUIET = Thresholds(10_000, 1_000_000)


class GatedLog:
    """Holds every append until `parties` commits have reached it: both have then validated
    against the same version, which is exactly the race the event store has to settle."""

    def __init__(self, inner: EventLog, parties: int) -> None:
        self._inner = inner
        self._barrier = asyncio.Barrier(parties)

    async def read(self, fund_id: str, from_version: int, max_count: int = 0) -> list[LoggedEvent]:
        return await self._inner.read(fund_id, from_version, max_count)

    async def append(
        self,
        fund_id: str,
        expected_version: int,
        events: Sequence[OutgoingEvent],
        *,
        idempotency_key: str,
        user_id: str,
        correlation_id: str,
    ) -> Appended:
        await asyncio.wait_for(self._barrier.wait(), 10)
        return await self._inner.append(
            fund_id,
            expected_version,
            events,
            idempotency_key=idempotency_key,
            user_id=user_id,
            correlation_id=correlation_id,
        )


async def test_two_commits_validated_at_the_same_version_one_lands(stack: Stack) -> None:
    fund = new_fund()
    version = await seed_fund(stack.store, fund, PORTFOLIO)
    refused_before = REGISTRY.get_sample_value(
        "fundledger_allocation_conflicts_total", {"stage": "append"}
    )
    client = EventStoreClient(
        stack.store_address,
        tls=stack.secure.client_tls(),
        token=stack.secure.service_token("allocation"),
    )
    try:
        gated = GatedLog(GrpcEventLog(client), parties=2)
        views = FundViews(gated)

        def command(company: str, user: str) -> CommitCommand:
            return CommitCommand(fund, proposal(version, (company, 500)), "race", user, "")

        outcomes = await asyncio.gather(
            commit(views, gated, QUIET, command("a", "alice")),
            commit(views, gated, QUIET, command("b", "bob")),
            return_exceptions=True,
        )
    finally:
        await client.close()

    [won] = [o for o in outcomes if isinstance(o, Committed)]
    [lost] = [o for o in outcomes if isinstance(o, BaseException)]
    assert isinstance(lost, Aborted), lost
    assert lost.reason == "WRONG_EXPECTED_VERSION"
    assert lost.metadata["current_version"] == str(won.new_version) == str(version + 2)
    assert lost.metadata["actual_version"] == str(version + 2)
    # Refused by the event store's stream head, not by our own validation.
    refused = REGISTRY.get_sample_value(
        "fundledger_allocation_conflicts_total", {"stage": "append"}
    )
    assert (refused or 0) == (refused_before or 0) + 1
    # Only the winner's two events exist; nothing of the loser's batch.
    written = await read_from(stack.store, fund, version + 1)
    assert len(written) == 2
    # The winner's user in its audit event (called here without a person, so the command's
    # user is all there is; the event store stamps the events with the calling service).
    audits = [e for e in written if e.event_type == "REALLOCATION_COMMITTED"]
    assert [json.loads(e.data)["user_id"] for e in audits] == [
        "alice" if won.plan.changes[0].company_id == "a" else "bob"
    ]


async def test_interleaved_commits_over_grpc_one_ok_one_aborted(stack: Stack) -> None:
    fund = new_fund()
    version = await seed_fund(stack.store, fund, PORTFOLIO)

    def request(company: str) -> pb.CommitReallocationRequest:
        return pb.CommitReallocationRequest(
            fund_id=fund,
            expected_version=version,
            proposals=proposals((company, 777)),
            reason="race",
            user_id=f"user-{company}",
        )

    outcomes = await asyncio.gather(
        stack.api.CommitReallocation(request("a")),
        stack.api.CommitReallocation(request("b")),
        return_exceptions=True,
    )
    [won] = [o for o in outcomes if isinstance(o, pb.CommitReallocationResponse)]
    [lost] = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert lost.code() == grpc.StatusCode.ABORTED
    assert metadata_of(lost)["current_version"] == str(won.new_version)
    assert await stream_version(stack.store, fund) == won.new_version == version + 2
    [audit] = [
        e for e in await read_from(stack.store, fund, 1) if e.event_type == "REALLOCATION_COMMITTED"
    ]
    assert json.loads(audit.data)["changes"][0]["company_id"] == won.changes[0].company_id


@pytest.mark.parametrize("commits", [8])
async def test_many_racing_commits_leave_a_gapless_log(stack: Stack, commits: int) -> None:
    fund = new_fund()
    version = await seed_fund(stack.store, fund, PORTFOLIO)
    outcomes = await asyncio.gather(
        *(
            stack.api.CommitReallocation(
                pb.CommitReallocationRequest(
                    fund_id=fund,
                    expected_version=version,
                    proposals=proposals(("c", 1_000 + i)),
                    reason="race",
                    user_id="u",
                )
            )
            for i in range(commits)
        ),
        return_exceptions=True,
    )
    ok = [o for o in outcomes if isinstance(o, pb.CommitReallocationResponse)]
    aborted = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert len(ok) == 1
    assert len(aborted) == commits - 1
    assert {e.code() for e in aborted} == {grpc.StatusCode.ABORTED}
    events = await read_from(stack.store, fund, 1)
    assert [e.version for e in events] == list(range(1, version + 3))
