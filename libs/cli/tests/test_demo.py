"""`make demo` end to end, against the session's whole stack (tests/support/full_stack.py)."""

from __future__ import annotations

import hashlib
import io
import json
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fundledger.eventstore.v1 import eventstore_pb2, eventstore_pb2_grpc
from fundledger.fund.v1 import state_pb2
from fundledger_cli.demo.connect import StackNotRunningError, check_serving
from fundledger_cli.demo.main import EXIT_NO_STACK, main
from fundledger_cli.demo.report import quarterly_report_csv
from fundledger_cli.demo.runner import DemoResult, run_demo
from fundledger_kernel import decode_event, empty_state, project, state_to_proto
from rich.console import Console

from tests.support.full_stack import FullStack

_AT = datetime(2026, 1, 1, tzinfo=UTC)


def test_no_stack_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(tmp_path) == EXIT_NO_STACK
    err = capsys.readouterr().err
    assert "endpoints.json not found" in err
    assert "make run" in err


async def test_a_service_not_serving_is_a_clear_error(tmp_path: Path) -> None:
    # Nothing listens on port 1 of 127.0.0.1.
    endpoints = {
        name: "127.0.0.1:1"
        for name in ("event-store", "projector", "snapshotter", "allocation", "storage")
    }
    (tmp_path / "endpoints.json").write_text(json.dumps(endpoints))
    with pytest.raises(StackNotRunningError, match=r"event-store .*UNREACHABLE"):
        await check_serving(endpoints, seconds=1.0)
    with pytest.raises(StackNotRunningError, match="not SERVING"):
        await run_demo(tmp_path, Console(file=io.StringIO()))


@pytest.fixture(scope="module")
async def demo_run(full_stack: FullStack) -> tuple[DemoResult, str]:
    out = io.StringIO()
    console = Console(file=out, width=200, color_system=None, force_terminal=False)
    result = await run_demo(full_stack.stack_dir, console)
    return result, out.getvalue()


def _without_time(state: state_pb2.FundState) -> state_pb2.FundState:
    copy = state_pb2.FundState()
    copy.CopyFrom(state)
    copy.ClearField("last_event_at")
    return copy


def _folded(result: DemoResult, versions: int) -> state_pb2.FundState:
    events = [
        decode_event(event.event_type, dict(event.data), version, _AT)
        for version, event in enumerate(result.history.events[:versions], start=1)
    ]
    state = project(empty_state(result.fund_id), events)
    return _without_time(state_to_proto(state))


@pytest.mark.timeout(600)
async def test_the_stream_holds_the_history_the_reallocation_and_the_file(
    full_stack: FullStack, demo_run: tuple[DemoResult, str]
) -> None:
    result, _ = demo_run
    generated = len(result.history.events)
    assert result.history_version == generated
    assert result.appends >= 8  # at least one append per quarter of the two years
    assert result.commit.baseline_version == generated
    # One RESERVE_ALLOCATED per changed company plus the REALLOCATION_COMMITTED audit event.
    assert result.commit.new_version == generated + len(result.commit.changes) + 1
    async with full_stack.secure.channel(full_stack.address("event-store")) as channel:
        store = eventstore_pb2_grpc.EventStoreServiceStub(channel)
        info = await store.GetStreamInfo(
            eventstore_pb2.GetStreamInfoRequest(stream_id=result.fund_id), timeout=30
        )
        tail = [
            event
            async for page in store.ReadStream(
                eventstore_pb2.ReadStreamRequest(
                    stream_id=result.fund_id, from_version=generated + 1
                ),
                timeout=30,
            )
            for event in page.events
        ]
    # ... and FILE_ATTACHED for the uploaded report.
    assert info.version == result.commit.new_version + 1
    assert [event.event_type for event in tail] == [
        *["RESERVE_ALLOCATED"] * len(result.commit.changes),
        "REALLOCATION_COMMITTED",
        "FILE_ATTACHED",
    ]
    assert tail[-2].event_id == result.audit_event_id
    assert json.loads(tail[-1].data)["fileId"] == result.file.file_id


@pytest.mark.timeout(600)
async def test_the_projector_and_the_snapshotter_agree_with_the_kernel_fold(
    demo_run: tuple[DemoResult, str],
) -> None:
    result, _ = demo_run
    assert _without_time(result.current) == _folded(result, result.history_version)
    # Time travel to the recorded_at of the append that closed the first year.
    assert result.past.version == result.year_one_version
    assert result.past.events_replayed == result.past.version - result.past.snapshot_version
    assert _without_time(result.past.state) == _folded(result, result.year_one_version)
    year_one = [e for e in result.history.events if e.occurred_on <= result.history.year_one_end]
    assert result.year_one_version == len(year_one)


@pytest.mark.timeout(600)
async def test_the_output_shows_every_step(demo_run: tuple[DemoResult, str]) -> None:
    result, output = demo_run
    for step in range(1, 7):
        assert f"Step {step}/6" in output
    assert result.fund_id in output
    assert f"v{result.history_version}" in output
    assert "WARNING HIGH_CONCENTRATION" in output
    assert "WARNING ALLOCATION_EXCEEDS_FUND_SHARE" in output
    assert result.preview.commit_allowed
    assert len(result.preview.findings) == 2
    assert f"-> v{result.commit.new_version}" in output
    assert result.audit_event_id
    assert result.audit_event_id in output
    assert result.file.file_id in output
    assert result.file.sha256 in output


@pytest.mark.timeout(600)
async def test_the_signed_url_downloads_the_report(demo_run: tuple[DemoResult, str]) -> None:
    result, output = demo_run
    assert result.signed_url in output.splitlines()
    # Proxies from the environment must not see a 127.0.0.1 request.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(result.signed_url, timeout=30) as response:
        body = response.read()
    assert hashlib.sha256(body).hexdigest() == result.file.sha256
    assert body == quarterly_report_csv(result.current, "2025-Q4")
