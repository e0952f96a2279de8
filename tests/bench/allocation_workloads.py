"""One call of each allocation figure (issue 4): PreviewReallocation and
CommitReallocation on a fund of 50 companies.

The fund: FUND_CREATED, 50 COMPANY_ADDED and 50 RESERVE_ALLOCATED; each request carries the
full table (50 rows, as a UI sends it) with 5 rows changed. Each virtual client
has its own fund, seeded when the workload opens; its commits chain (each made
against the version the previous one returned), so every commit lands.
"""

from __future__ import annotations

import contextlib
import json
import random
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import grpc
from fundledger.allocation.v1 import allocation_pb2 as apb
from fundledger.allocation.v1 import allocation_pb2_grpc
from fundledger.eventstore.v1 import events_pb2, eventstore_pb2_grpc
from fundledger.eventstore.v1 import eventstore_pb2 as pb

from tests.bench.transport import open_channel
from tests.bench.workload_spec import CALL_TIMEOUT, Call, Workload

ALLOCATION_KINDS = frozenset({"preview", "commit"})
COMPANIES = 50
CHANGED_ROWS = 5
FUND_SIZE_CENTS = 500_000_000_00  # the reserves stay below 50 % of it: no blocking finding


@contextlib.asynccontextmanager
async def open_allocation_workload(work: Workload, clients: Sequence[int]) -> AsyncIterator[Call]:
    async with (
        open_channel(work.endpoint, plaintext=work.plaintext) as channel,
        open_channel(work.store, plaintext=work.plaintext) as store_channel,
    ):
        # Any: the generated stubs are typed for the sync API.
        api: Any = allocation_pb2_grpc.AllocationServiceStub(channel)
        store: Any = eventstore_pb2_grpc.EventStoreServiceStub(store_channel)
        funds = {}
        for client in clients:
            rng = random.Random(client)
            fund_id = f"fund-bench-{work.tag}-{client}-{uuid.uuid4().hex[:8]}"
            version, planned = await _seed(store, fund_id, rng)
            funds[client] = _Fund(fund_id, version, planned, rng)
        if work.kind == "preview":
            yield _preview(api, funds)
        else:
            yield _commit(api, store, funds)


class _Fund:
    def __init__(self, fund_id: str, version: int, planned: dict[str, int], rng: random.Random):
        self.fund_id = fund_id
        self.version = version
        self.planned = planned
        self.rng = rng
        self.table = _table(dict(planned), rng)  # the preview's (fixed) request


def _event(event_type: str, data: dict[str, Any]) -> events_pb2.EventData:
    return events_pb2.EventData(event_type=event_type, data=json.dumps(data).encode())


async def _seed(store: Any, fund_id: str, rng: random.Random) -> tuple[int, dict[str, int]]:
    """A fund of COMPANIES companies with planned reserves; returns its version and amounts."""
    planned = {
        f"company-{i:03d}": rng.randrange(1_000_000, 5_000_000) * 100 for i in range(COMPANIES)
    }
    opening = _event(
        "FUND_CREATED",
        {"name": "Bench Fund", "committed_capital_cents": FUND_SIZE_CENTS, "currency": "USD"},
    )
    added = [_event("COMPANY_ADDED", {"company_id": c, "name": c.title()}) for c in planned]
    reserves = [
        _event("RESERVE_ALLOCATED", {"company_id": c, "planned_reserves_cents": cents})
        for c, cents in planned.items()
    ]
    version = 0
    for batch in ([opening, *added], reserves):
        response = await store.AppendToStream(
            pb.AppendToStreamRequest(stream_id=fund_id, events=batch), timeout=CALL_TIMEOUT
        )
        version = int(response.last_version)
    return version, planned


def _table(planned: dict[str, int], rng: random.Random) -> list[apb.Proposal]:
    """The full table with CHANGED_ROWS rows moved (and `planned` updated to match)."""
    for company_id in rng.sample(sorted(planned), CHANGED_ROWS):
        planned[company_id] = rng.randrange(1_000_000, 5_000_000) * 100
    return [apb.Proposal(company_id=c, planned_reserves_cents=a) for c, a in planned.items()]


def _preview(api: Any, funds: dict[int, _Fund]) -> Call:
    async def call(client: int) -> None:
        fund = funds[client]
        request = apb.PreviewReallocationRequest(
            fund_id=fund.fund_id, expected_version=fund.version, proposals=fund.table
        )
        response = await api.PreviewReallocation(request, timeout=CALL_TIMEOUT)
        if not response.commit_allowed:
            raise RuntimeError(f"preview refused: {list(response.findings)[:2]}")

    return call


def _commit(
    api: Any,
    store: Any,
    funds: dict[int, _Fund],
) -> Call:
    async def call(client: int) -> None:
        fund = funds[client]
        request = apb.CommitReallocationRequest(
            fund_id=fund.fund_id,
            expected_version=fund.version,
            proposals=_table(fund.planned, fund.rng),
            reason="bench",
            user_id="bench",
            idempotency_key=str(uuid.uuid4()),
        )
        try:
            response = await api.CommitReallocation(request, timeout=CALL_TIMEOUT)
        except grpc.aio.AioRpcError:
            # It may have landed all the same (a deadline): go on from the fund's real version.
            info = await store.GetStreamInfo(
                pb.GetStreamInfoRequest(stream_id=fund.fund_id), timeout=CALL_TIMEOUT
            )
            fund.version = int(info.version)
            raise
        fund.version = int(response.new_version)

    return call
