"""The README's worked example, against a running `make run` stack.

Creates a fund, adds companies, invests, revalues, then reads the current state
(projector, read-your-writes) and the state as of an earlier time (snapshotter).
Endpoints come from .stack/endpoints.json (or FUNDLEDGER_STACK_DIR). The stack is secure
(`make run`'s default): calls use TLS trusting <stack dir>/tls/ca.crt and carry a dev token of
"alice", a fund manager of tenant "dev", minted from the stack's dev issuer. A deployment
would pass its own CA and a token from its identity provider instead.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from pathlib import Path

import grpc
from fundledger.eventstore.v1 import events_pb2, eventstore_pb2_grpc
from fundledger.eventstore.v1 import eventstore_pb2 as es
from fundledger.projector.v1 import projector_pb2, projector_pb2_grpc
from fundledger.snapshotter.v1 import snapshotter_pb2, snapshotter_pb2_grpc
from fundledger_devstack.endpoints import read_endpoints
from fundledger_devstack.security import StackSecurity

OPTIONS = [("grpc.enable_http_proxy", 0)]  # 127.0.0.1 never through an http_proxy


def stack_dir() -> Path:
    return Path(os.environ.get("FUNDLEDGER_STACK_DIR", ".stack"))


def connect(address: str) -> grpc.aio.Channel:
    """TLS + a dev token on a secure stack; plaintext on one started insecure."""
    security = StackSecurity.load(stack_dir())
    if security is None:
        return grpc.aio.insecure_channel(address, options=OPTIONS)
    token = security.mint_person("alice", roles=["fund-manager"], tenant="dev")
    return grpc.aio.secure_channel(address, security.channel_credentials(token), options=OPTIONS)


def ev(event_type: str, **data: object) -> events_pb2.EventData:
    return events_pb2.EventData(
        event_type=event_type, data=json.dumps(data).encode(), user_id="alice", source="example"
    )


def money(cents: int) -> str:
    return f"{cents // 100:,}.{cents % 100:02d}"


async def main() -> None:
    where = read_endpoints(stack_dir())
    fund = f"fund-{uuid.uuid4()}"
    async with (
        connect(where["event-store"]) as a,
        connect(where["projector"]) as b,
        connect(where["snapshotter"]) as c,
    ):
        store = eventstore_pb2_grpc.EventStoreServiceStub(a)
        projector = projector_pb2_grpc.ProjectorServiceStub(b)
        snapshots = snapshotter_pb2_grpc.SnapshotterServiceStub(c)

        first = await store.AppendToStream(
            es.AppendToStreamRequest(
                stream_id=fund,
                expected_state=es.STREAM_STATE_NO_STREAM,
                events=[
                    ev(
                        "FUND_CREATED",
                        name="Example Fund I",
                        committedCapitalCents=50_000_000_00,
                        currency="USD",
                        vintageYear=2026,
                    ),
                    ev(
                        "COMPANY_ADDED",
                        companyId="acme",
                        name="Acme Robotics",
                        allocationCapCents=5_000_000_00,
                    ),
                    ev(
                        "COMPANY_ADDED",
                        companyId="globex",
                        name="Globex Bio",
                        allocationCapCents=3_000_000_00,
                    ),
                    ev("CAPITAL_CALLED", amountCents=10_000_000_00),
                    ev(
                        "INVESTMENT_MADE",
                        companyId="acme",
                        amountCents=2_000_000_00,
                        ownershipBps=1500,
                        round="Seed",
                    ),
                    ev(
                        "INVESTMENT_MADE",
                        companyId="globex",
                        amountCents=1_500_000_00,
                        ownershipBps=1000,
                        round="Series A",
                    ),
                ],
            )
        )
        print(f"appended {fund} v1..v{first.last_version} at {first.recorded_at.ToJsonString()}")
        await asyncio.sleep(0.05)
        second = await store.AppendToStream(
            es.AppendToStreamRequest(
                stream_id=fund,
                expected_version=first.last_version,
                events=[
                    ev("VALUATION_UPDATED", companyId="acme", valuationCents=6_000_000_00),
                    ev("VALUATION_UPDATED", companyId="globex", valuationCents=1_200_000_00),
                    ev("DISTRIBUTION_MADE", amountCents=500_000_00, companyId="acme"),
                ],
            )
        )
        print(f"revalued: v{second.first_version}..v{second.last_version}")

        now = await projector.GetFundState(
            projector_pb2.GetFundStateRequest(fund_id=fund, min_version=second.last_version),
            timeout=10,
        )
        s = now.state
        print(f"\ncurrent state (projector, v{s.version}):")
        print(
            f"  committed {money(s.committed_cents)}  called {money(s.called_cents)}  "
            f"invested {money(s.invested_cents)}  distributed {money(s.distributed_cents)}"
        )
        print(f"  total value {money(s.total_value_cents)}  DPI {s.dpi}  TVPI {s.tvpi}")
        for co in s.companies:
            print(
                f"  {co.name:<14} invested {money(co.invested_cents):>14}  "
                f"valued {money(co.valuation_cents):>14}  MOIC {co.moic}"
            )

        before = await snapshots.GetFundStateAt(
            snapshotter_pb2.GetFundStateAtRequest(fund_id=fund, at_time=first.recorded_at),
            timeout=10,
        )
        t = before.state
        print(
            f"\nas of {first.recorded_at.ToJsonString()} (snapshotter, v{before.version}, "
            f"{before.events_replayed} events replayed):"
        )
        print(
            f"  invested {money(t.invested_cents)}  total value {money(t.total_value_cents)}  "
            f"TVPI {t.tvpi}"
        )


if __name__ == "__main__":
    asyncio.run(main())
