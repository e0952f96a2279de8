"""The fund history the fund-service figures run on, as AppendToStream requests.

Each fund: FUND_CREATED, 10 COMPANY_ADDED, then investments and valuations
alternating over the companies, EVENTS_PER_FUND events in all (payload field
names of protos/fundledger/fund/v1/events.proto, JSON with integer cents).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from fundledger.eventstore.v1 import events_pb2
from fundledger.eventstore.v1 import eventstore_pb2 as pb

COMPANIES = 10
EVENTS_PER_FUND = 100
APPEND_EVENTS = 25  # events per seeding append
COMMITTED_CENTS = 250_000_000_00


def company_id(index: int) -> str:
    return f"company-{index % COMPANIES:02d}"


def fund_event(event_type: str, data: dict[str, Any], user: str = "bench") -> events_pb2.EventData:
    return events_pb2.EventData(
        event_type=event_type,
        schema_version=1,
        data=json.dumps(data, separators=(",", ":")).encode(),
        metadata={"client": "bench"},
        correlation_id=str(uuid.uuid4()),
        user_id=user,
        source="bench",
    )


def valuation(index: int) -> events_pb2.EventData:
    """A VALUATION_UPDATED of one of the fund's companies (what the load appends)."""
    return fund_event(
        "VALUATION_UPDATED",
        {"company_id": company_id(index), "valuation_cents": 3_000_000_00 + 100 * index},
    )


def history(fund: int) -> list[events_pb2.EventData]:
    events = [
        fund_event(
            "FUND_CREATED",
            {
                "name": f"Bench Fund {fund}",
                "committed_capital_cents": COMMITTED_CENTS,
                "currency": "USD",
                "vintage_year": 2024,
            },
        )
    ]
    for c in range(COMPANIES):
        added = {
            "company_id": company_id(c),
            "name": f"Company {c}",
            "allocation_cap_cents": 40_000_000_00,
            "sector": "software",
        }
        events.append(fund_event("COMPANY_ADDED", added))
    i = 0
    while len(events) < EVENTS_PER_FUND:
        if i % 2 == 0:
            invested = {
                "company_id": company_id(i // 2),
                "amount_cents": 1_000_000_00 + 100 * i,
                "ownership_bps": 500 + i,
                "round": "A",
            }
            events.append(fund_event("INVESTMENT_MADE", invested))
        else:
            events.append(valuation(i // 2))
        i += 1
    return events


def seeding_requests(fund_id: str, fund: int) -> list[pb.AppendToStreamRequest]:
    """The fund's history in appends of APPEND_EVENTS, each at its exact expected version."""
    events = history(fund)
    return [
        pb.AppendToStreamRequest(
            stream_id=fund_id, expected_version=start, events=events[start : start + APPEND_EVENTS]
        )
        for start in range(0, len(events), APPEND_EVENTS)
    ]
