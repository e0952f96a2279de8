"""`fund at` / `fund restatement` without servers: how dates are read, how figures are shown,
and that bad input is a usage error before anything is called."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from fundledger.eventstore.v1 import events_pb2
from fundledger.fund.v1 import events_pb2 as fund_events
from fundledger.snapshotter.v1 import snapshotter_pb2
from fundledger_cli.app import app
from fundledger_cli.business_time import parse_point
from fundledger_cli.errors import CliError, ExitCode
from fundledger_cli.time_travel_render import figure_value, micros, payload_text
from typer.testing import CliRunner


def test_a_bare_date_is_the_end_of_that_day_utc() -> None:
    assert parse_point("2025-09-30", "--effective") == datetime(
        2025, 9, 30, 23, 59, 59, 999_999, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-10-01T00:00Z", datetime(2025, 10, 1, tzinfo=UTC)),
        ("2025-10-01T00:00:00.5z", datetime(2025, 10, 1, 0, 0, 0, 500_000, tzinfo=UTC)),
        ("2025-10-01T12:00", datetime(2025, 10, 1, 12, tzinfo=UTC)),  # no zone: UTC
        (
            "2025-10-01T12:00+02:00",
            datetime(2025, 10, 1, 12, tzinfo=timezone(timedelta(hours=2))),
        ),
    ],
)
def test_an_instant_is_taken_as_given(text: str, expected: datetime) -> None:
    assert parse_point(text, "--known-at") == expected


@pytest.mark.parametrize("text", ["", "yesterday", "2025-13-01", "2025-09-31", "30/09/2025"])
def test_a_bad_date_is_a_usage_error_naming_the_option(text: str) -> None:
    with pytest.raises(CliError) as caught:
        parse_point(text, "--effective")
    assert caught.value.exit_code is ExitCode.USAGE
    assert caught.value.message.startswith("--effective: ")


@pytest.mark.parametrize(
    ("figure", "value", "shown"),
    [
        ("total_value_cents", -123_456_78, "-123,456.78"),
        ("tvpi_bps", 13_457, "1.3457x"),
        ("moic_bps", -5_000, "-0.5000x"),
        ("ownership_bps", 1_234, "12.34%"),
        ("price_per_share_micros", 1_250_000, "1.250000"),
        ("shares", 1_500_000, "1,500,000"),
    ],
)
def test_figures_are_shown_in_their_unit_without_floats(
    figure: str, value: int, shown: str
) -> None:
    assert figure_value(figure, value) == shown


def test_micros_are_exact_at_any_size() -> None:
    assert micros(123_456_789_012_345_678) == "123,456,789,012.345678"


def test_an_explaining_event_shows_its_decoded_payload() -> None:
    entry = snapshotter_pb2.TimelineEntry(
        event=events_pb2.RecordedEvent(event_type="VALUATION_UPDATED", data=b'{"x":1}')
    )
    assert payload_text(entry) == '{"x":1}'  # no payload: the stored bytes
    entry.payload.Pack(
        fund_events.ValuationUpdated(
            company_id="c-1",
            valuation_cents=5,
            method=fund_events.VALUATION_METHOD_WRITE_DOWN,
        )
    )
    text = payload_text(entry)
    assert "company_id=c-1" in text
    assert "VALUATION_METHOD_WRITE_DOWN" in text


@pytest.mark.parametrize(
    "args",
    [
        ["fund", "at", "fund-1", "--effective", "30 Sep"],
        ["fund", "at", "fund-1", "--known-at", "2025-02-30"],
        ["fund", "at", "fund-1"],  # nothing to go on: `fund show` is the current state
        ["fund", "at", "fund-1", "--known-at", "2025-10-01", "--at-version", "3"],
        ["fund", "restatement", "fund-1", "--effective", "2025-09-30", "--before", "soon"],
        [
            "fund",
            "restatement",
            "fund-1",
            "--effective",
            "2025-09-30",
            "--before",
            "2025-10-02",
            "--after",
            "2025-10-01",
        ],
    ],
)
def test_bad_arguments_exit_with_the_usage_code_before_any_call(
    args: list[str], tmp_path: Path
) -> None:
    # Nothing listens at the given address: a call would fail with UNAVAILABLE (3), not 2.
    result = CliRunner().invoke(
        app, ["--stack-dir", str(tmp_path), "--snapshotter", "127.0.0.1:1", *args]
    )
    assert result.exit_code == int(ExitCode.USAGE), result.output
