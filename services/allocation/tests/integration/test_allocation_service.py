"""Start-up, health, settings and metrics of the allocation service."""

from __future__ import annotations

import subprocess
import sys

import grpc
import pytest
from allocation.bootstrap import SERVICE_NAME
from allocation.config import Settings
from allocation_stack import Stack, StackFactory
from allocation_support import Company, metadata_of, new_fund, proposals, reason_of, seed_fund
from fundledger.allocation.v1 import allocation_pb2 as pb
from prometheus_client import REGISTRY

from tests.support.event_store import EventStoreFactory
from tests.support.health import assert_serving


async def test_health_serving_while_the_event_store_serves(stack: Stack) -> None:
    async with stack.secure.channel(stack.allocation.server.address, None) as channel:
        await assert_serving(channel, SERVICE_NAME)


async def test_health_not_serving_without_the_event_store(
    stack_factory: StackFactory, event_store_factory: EventStoreFactory
) -> None:
    # A second store of our own, so stopping it leaves the shared one alone.
    store = await event_store_factory()
    stack = await stack_factory(eventstore_address=f"127.0.0.1:{store.server.port}")
    assert await stack.allocation.server.health.refresh()
    await store.server.stop(0.5)
    assert not await stack.allocation.server.health.refresh()


async def test_event_store_down_is_unavailable_not_internal(
    stack_factory: StackFactory, event_store_factory: EventStoreFactory
) -> None:
    store = await event_store_factory()
    stack = await stack_factory(
        eventstore_address=f"127.0.0.1:{store.server.port}", eventstore_timeout_seconds=2.0
    )
    await store.server.stop(0.5)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stack.api.PreviewReallocation(
            pb.PreviewReallocationRequest(fund_id=new_fund(), expected_version=1)
        )
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert reason_of(caught.value) == "EVENT_STORE_UNAVAILABLE"
    assert "eventstore_code" in metadata_of(caught.value)


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_findings_and_commits_are_counted(stack: Stack) -> None:
    fund = new_fund()
    version = await seed_fund(stack.store, fund, [Company("a", cap=10)])
    cap_before = _sample(
        "fundledger_allocation_findings_total", rpc="commit", type="CAP_EXCEEDED", severity="ERROR"
    )
    blocked_before = _sample("fundledger_allocation_commits_total", outcome="blocked")
    committed_before = _sample("fundledger_allocation_commits_total", outcome="committed")

    request = pb.CommitReallocationRequest(
        fund_id=fund,
        expected_version=version,
        proposals=proposals(("a", 11)),
        reason="r",
        user_id="u",
    )
    with pytest.raises(grpc.aio.AioRpcError):
        await stack.api.CommitReallocation(request)
    del request.proposals[:]
    request.proposals.extend(proposals(("a", 10)))
    await stack.api.CommitReallocation(request)

    assert (
        _sample(
            "fundledger_allocation_findings_total",
            rpc="commit",
            type="CAP_EXCEEDED",
            severity="ERROR",
        )
        == cap_before + 1
    )
    assert _sample("fundledger_allocation_commits_total", outcome="blocked") == blocked_before + 1
    assert (
        _sample("fundledger_allocation_commits_total", outcome="committed") == committed_before + 1
    )


def test_settings_defaults_and_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "GRPC_PORT",
        "METRICS_PORT",
        "EVENTSTORE_ADDRESS",
        "ALLOCATION_CONCENTRATION_BPS",
        "ALLOCATION_FUND_SHARE_BPS",
    ):
        monkeypatch.delenv(f"FUNDLEDGER_{name}", raising=False)
    defaults = Settings.from_env()
    assert (defaults.server.grpc_port, defaults.server.metrics_port) == (50054, 9104)
    assert defaults.eventstore_address == "127.0.0.1:50051"
    assert (defaults.concentration_bps, defaults.fund_share_bps) == (3000, 5000)

    monkeypatch.setenv("FUNDLEDGER_ALLOCATION_CONCENTRATION_BPS", "2500")
    monkeypatch.setenv("FUNDLEDGER_ALLOCATION_FUND_SHARE_BPS", "7500")
    assert Settings.from_env().thresholds.concentration_bps == 2500
    assert Settings.from_env().thresholds.fund_share_bps == 7500
    monkeypatch.setenv("FUNDLEDGER_ALLOCATION_CONCENTRATION_BPS", "0.3")
    with pytest.raises(ValueError, match="FUNDLEDGER_ALLOCATION_CONCENTRATION_BPS"):
        Settings.from_env()


def test_migrate_is_a_no_op() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "allocation", "migrate"],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
