"""Builders shared by the allocation tests: fund events, fund states, error details."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from allocation.domain.model import Proposal, ProposedAmount
from fundledger.allocation.v1 import allocation_pb2 as pb
from fundledger.eventstore.v1 import events_pb2
from fundledger.eventstore.v1 import eventstore_pb2 as es
from fundledger_kernel import canonical_json
from fundledger_kernel.fund import FundState, decode_event, empty_state, project
from fundledger_kernel.fund.fold_input import LoggedEvent

from tests.support.rpc_errors import metadata_of as metadata_of
from tests.support.rpc_errors import reason_of as reason_of

FUND_SIZE = 100_000_000_00  # 100,000,000.00


@dataclass(frozen=True)
class Company:
    company_id: str
    name: str = ""
    cap: int = 0
    planned: int = 0


def new_fund() -> str:
    return f"fund-{uuid.uuid4()}"


def payloads(companies: Sequence[Company], committed: int = FUND_SIZE) -> list[tuple[str, Any]]:
    """FUND_CREATED, one COMPANY_ADDED per company, then RESERVE_ALLOCATED for the planned ones."""
    events: list[tuple[str, Any]] = [
        (
            "FUND_CREATED",
            {
                "name": "Test Fund",
                "committed_capital_cents": committed,
                "currency": "USD",
                "vintage_year": 2024,
            },
        )
    ]
    for c in companies:
        events.append(
            (
                "COMPANY_ADDED",
                {
                    "company_id": c.company_id,
                    "name": c.name or c.company_id.upper(),
                    "allocation_cap_cents": c.cap,
                },
            )
        )
    for c in companies:
        if c.planned:
            events.append(
                (
                    "RESERVE_ALLOCATED",
                    {"company_id": c.company_id, "planned_reserves_cents": c.planned},
                )
            )
    return events


def fund_state(
    companies: Sequence[Company], committed: int = FUND_SIZE, fund_id: str = "fund-unit"
) -> FundState:
    """The state the shared fold gives for a fund seeded with `companies` (pure, no server)."""
    at = datetime(2025, 1, 1, tzinfo=UTC)
    events = [
        decode_event(event_type, data, version, at)
        for version, (event_type, data) in enumerate(payloads(companies, committed), start=1)
    ]
    return project(empty_state(fund_id), events)


def logged(
    fund_id: str,
    version: int,
    event_type: str,
    data: Any,
    recorded_at: datetime,
    effective_at: datetime | None = None,
    schema_version: int = 1,
) -> LoggedEvent:
    """An event as the log would hold it (canonical JSON bytes, id and position by version;
    effective at `effective_at`, None: when recorded)."""
    return LoggedEvent(
        stream_id=fund_id,
        version=version,
        position=1000 + version,
        event_id=f"id-{version}",
        event_type=event_type,
        data=canonical_json(data),
        recorded_at=recorded_at,
        effective_at=effective_at,
        schema_version=schema_version,
    )


def proposal(expected_version: int, *amounts: tuple[str, int]) -> Proposal:
    return Proposal(expected_version, tuple(ProposedAmount(c, a) for c, a in amounts))


def event_data(event_type: str, data: Any) -> events_pb2.EventData:
    return events_pb2.EventData(event_type=event_type, data=json.dumps(data).encode())


async def seed_fund(
    store: Any, fund_id: str, companies: Sequence[Company], committed: int = FUND_SIZE
) -> int:
    """Appends the fund's opening events in one batch; returns the fund's version."""
    response = await store.AppendToStream(
        es.AppendToStreamRequest(
            stream_id=fund_id,
            events=[event_data(t, d) for t, d in payloads(companies, committed)],
        )
    )
    return int(response.last_version)


async def stream_version(store: Any, fund_id: str) -> int:
    info = await store.GetStreamInfo(es.GetStreamInfoRequest(stream_id=fund_id))
    return int(info.version)


async def read_from(store: Any, fund_id: str, from_version: int) -> list[events_pb2.RecordedEvent]:
    request = es.ReadStreamRequest(stream_id=fund_id, from_version=from_version)
    return [e async for page in store.ReadStream(request) for e in page.events]


def proposals(*amounts: tuple[str, int]) -> list[pb.Proposal]:
    return [pb.Proposal(company_id=c, planned_reserves_cents=a) for c, a in amounts]
