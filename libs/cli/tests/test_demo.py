"""`make demo` end to end, against the session's whole stack (tests/support/full_stack.py)."""

from __future__ import annotations

import hashlib
import io
import json
import urllib.request
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from fundledger.eventstore.v1 import eventstore_pb2, eventstore_pb2_grpc
from fundledger.eventstore.v1.events_pb2 import RecordedEvent
from fundledger.fund.v1 import events_pb2 as ev
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


def _folded(
    result: DemoResult, versions: int, effective_by: date | None = None
) -> state_pb2.FundState:
    """The kernel's fold of the history's first `versions` events (those effective by the
    end of `effective_by`), in the order they were appended: their business-date order."""
    events = [
        decode_event(
            event.event_type,
            dict(event.data),
            version,
            _AT,
            schema_version=event.schema_version,
            effective_at=event.effective_at,
        )
        for version, event in enumerate(result.history.events[:versions], start=1)
        if effective_by is None or event.occurred_on <= effective_by
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
    # ... FILE_ATTACHED for the uploaded report, and the late write-down.
    assert info.version == result.commit.new_version + 2
    assert [event.event_type for event in tail] == [
        *["RESERVE_ALLOCATED"] * len(result.commit.changes),
        "REALLOCATION_COMMITTED",
        "FILE_ATTACHED",
        "VALUATION_UPDATED",
    ]
    assert tail[-3].event_id == result.audit_event_id
    assert json.loads(tail[-2].data)["fileId"] == result.file.file_id
    # The history is effective on its business dates, recorded now; the reallocation is
    # effective when committed; the write-down is backdated to the Q3 quarter end.
    first = await _first_event(
        store_address=full_stack.address("event-store"), stack=full_stack, fund_id=result.fund_id
    )
    assert first.effective_at.ToDatetime(tzinfo=UTC) == result.history.events[0].effective_at
    assert first.schema_version == 1
    assert tail[0].effective_at == tail[0].recorded_at
    write_down = tail[-1]
    assert write_down.schema_version == 2
    assert write_down.effective_at.ToDatetime(tzinfo=UTC) == datetime(2025, 9, 30, tzinfo=UTC)
    assert write_down.recorded_at.ToDatetime() > tail[-2].recorded_at.ToDatetime()


@pytest.mark.timeout(600)
async def test_the_projector_and_the_snapshotter_agree_with_the_kernel_fold(
    demo_run: tuple[DemoResult, str],
) -> None:
    result, _ = demo_run
    assert _without_time(result.current) == _folded(result, result.history_version)
    # Time travel by business date: the fund on the last day of its first year.
    assert result.year_one_effective_at.ToDatetime(tzinfo=UTC) == datetime(
        2024, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC
    )
    assert result.past.version == result.year_one_version
    assert result.past.events_replayed == result.past.version - result.past.snapshot_version
    assert _without_time(result.past.state) == _folded(result, result.year_one_version)
    year_one = [e for e in result.history.events if e.occurred_on <= result.history.year_one_end]
    assert result.year_one_version == len(year_one)


@pytest.mark.timeout(600)
async def test_the_output_shows_every_step(demo_run: tuple[DemoResult, str]) -> None:
    result, output = demo_run
    for step in range(1, 8):
        assert f"Step {step}/7" in output
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


async def _first_event(*, store_address: str, stack: FullStack, fund_id: str) -> RecordedEvent:
    async with stack.secure.channel(store_address) as channel:
        store = eventstore_pb2_grpc.EventStoreServiceStub(channel)
        pages = store.ReadStream(
            eventstore_pb2.ReadStreamRequest(stream_id=fund_id, max_count=1), timeout=30
        )
        events = [event async for page in pages for event in page.events]
    return events[0]


@pytest.mark.timeout(600)
async def test_the_late_write_down_restates_q3_and_the_report_stays_reproducible(
    demo_run: tuple[DemoResult, str],
) -> None:
    result, output = demo_run
    restated = result.restated
    down = restated.write_down
    quarter_end = date(2025, 9, 30)
    response = restated.restatement
    assert restated.effective_at.ToDatetime(tzinfo=UTC) == datetime(
        2025, 9, 30, 23, 59, 59, 999_999, tzinfo=UTC
    )
    # As reported: a moment before the write-down was recorded, the fund as of Q3 is the
    # history's events effective by then, exactly; GetFundStateAt and GetRestatement agree.
    assert response.before == restated.reported.state
    assert _without_time(response.before) == _folded(
        result, result.history_version, effective_by=quarter_end
    )
    assert restated.reported_known_at.ToDatetime() < restated.appended.recorded_at.ToDatetime()
    # As known now: the same, except the written-down holding (later-effective events and
    # the reallocation of today are outside Q3).
    assert response.after.version == restated.appended.last_version
    written_down = {c.company_id: c for c in response.after.companies}[down.company_id]
    reported = {c.company_id: c for c in response.before.companies}[down.company_id]
    assert reported.valuation_cents == down.before_cents
    assert written_down.valuation_cents == down.after_cents
    assert written_down.valuation_method == ev.VALUATION_METHOD_WRITE_DOWN
    assert written_down.valuation_effective_at.ToDatetime(tzinfo=UTC) == down.effective_at
    delta = down.after_cents - down.before_cents
    changes = {c.figure: (c.before, c.after, c.delta) for c in response.changes}
    assert changes["total_value_cents"] == (
        response.before.total_value_cents,
        response.before.total_value_cents + delta,
        delta,
    )
    assert [c.company_id for c in response.companies] == [down.company_id]
    company = {c.figure: c.delta for c in response.companies[0].changes}
    assert company["valuation_cents"] == delta
    # The event that explains it, and nothing else.
    assert [e.event.version for e in response.events] == [restated.appended.last_version]
    assert response.events[0].event.event_type == "VALUATION_UPDATED"
    for text in ("Step 7/7", "WRITE_DOWN", down.name, "fund restatement", "Restated figures"):
        assert text in output, text
