"""`fundledger fund at` on both clocks and `fundledger fund restatement`, against the real stack.

The fund: created and given a company on 1 January 2025, marked at the Q3 and Q4 quarter ends
(recorded now, long after), then written down for Q3 by an event recorded later still.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from fundledger.eventstore.v1 import events_pb2, eventstore_pb2
from google.protobuf.timestamp_pb2 import Timestamp

Cli = Any  # conftest.CliDriver

JANUARY = datetime(2025, 1, 1, tzinfo=UTC)
Q3_END = datetime(2025, 9, 30, tzinfo=UTC)
Q4_END = datetime(2025, 12, 31, tzinfo=UTC)


@dataclass(frozen=True)
class DatedFund:
    fund_id: str
    # Recorded time of the last event before the write-down: "as reported".
    reported_at: str
    write_down_version: int


def _event(event_type: str, data: dict[str, Any], effective: datetime) -> events_pb2.EventData:
    event = events_pb2.EventData(
        event_type=event_type,
        data=json.dumps(data).encode(),
        schema_version=2 if event_type == "VALUATION_UPDATED" else 1,
    )
    event.effective_at.FromDatetime(effective)
    return event


def _mark(cents: int, method: str, effective: datetime) -> events_pb2.EventData:
    data = {"company_id": "c-1", "valuation_cents": cents, "method": method}
    return _event("VALUATION_UPDATED", data, effective)


def _append(cli: Cli, fund_id: str, *events: events_pb2.EventData) -> Any:
    return cli.eventstore.AppendToStream(
        eventstore_pb2.AppendToStreamRequest(stream_id=fund_id, events=list(events)), timeout=30
    )


@pytest.fixture
def dated_fund(cli: Cli, fund_id: str) -> DatedFund:
    fund = {
        "name": "Dated Ventures",
        "committed_capital_cents": 10_000_000_000,
        "currency": "USD",
        "vintage_year": 2025,
    }
    company = {"company_id": "c-1", "name": "c-1 Inc", "allocation_cap_cents": 0}
    reported = _append(
        cli,
        fund_id,
        _event("FUND_CREATED", fund, JANUARY),
        _event("COMPANY_ADDED", company, JANUARY),
        _mark(100_000_000, "VALUATION_METHOD_MARK_TO_MODEL", Q3_END),
        _mark(200_000_000, "VALUATION_METHOD_MARK_TO_MODEL", Q4_END),
    )
    written = _append(cli, fund_id, _mark(40_000_000, "VALUATION_METHOD_WRITE_DOWN", Q3_END))
    return DatedFund(fund_id, reported.recorded_at.ToJsonString(), written.last_version)


def _json(cli: Cli, *args: str) -> Any:
    return json.loads(cli.run(*args, "--json").stdout)


def _at(stamp: str) -> datetime:
    parsed = Timestamp()
    parsed.FromJsonString(stamp)
    return parsed.ToDatetime(tzinfo=UTC)


def test_fund_at_a_business_date_as_known_now_and_as_known_then(
    cli: Cli, dated_fund: DatedFund
) -> None:
    fund = dated_fund.fund_id
    now = _json(cli, "fund", "at", fund, "--effective", "2025-09-30")
    # A bare date is the end of that day, UTC.
    assert _at(now["effective_at"]) == datetime(2025, 9, 30, 23, 59, 59, 999_999, tzinfo=UTC)
    [company] = now["state"]["companies"]
    # The write-down, recorded last, is effective the same day as the Q3 mark: it folds after.
    assert company["valuation_cents"] == "40000000"
    assert company["valuation_method"] == "VALUATION_METHOD_WRITE_DOWN"
    assert now["version"] == str(dated_fund.write_down_version)

    then = _json(
        cli, "fund", "at", fund, "--effective", "2025-09-30", "--known-at", dated_fund.reported_at
    )
    assert then["state"]["companies"][0]["valuation_cents"] == "100000000"
    assert then["version"] == "3"  # the Q4 mark (v4) is not effective by 30 September
    assert _at(then["known_at"]) == _at(dated_fund.reported_at)

    # The year end as known now: the Q4 mark is later-effective than the write-down and stands.
    year_end = _json(cli, "fund", "at", fund, "--effective", "2025-12-31")
    assert year_end["state"]["companies"][0]["valuation_cents"] == "200000000"
    # Up to a version: the events up to v2 (the fund and its company), effective by then.
    early = _json(cli, "fund", "at", fund, "--effective", "2025-12-31", "--at-version", "2")
    assert early["version"] == "2"
    assert early["state"]["companies"][0].get("valuation_cents", "0") == "0"


def test_fund_at_renders_both_clocks_the_snapshot_used_and_the_holdings(
    cli: Cli, dated_fund: DatedFund
) -> None:
    out = cli.run(
        "fund", "at", dated_fund.fund_id, "--effective", "2025-09-30", "--known-at", "2030-01-01"
    ).stdout
    assert "as of 2025-09-30 23:59:59.999Z" in out
    assert "known at 2030-01-01 23:59:59.999Z" in out
    assert "Clocks" in out
    assert "latest effective folded" in out
    assert "2025-09-30 00:00:00.000Z" in out  # the state's business time
    assert "no snapshot" in out
    assert "Holdings" in out
    assert "WRITE_DOWN" in out
    assert "400,000.00" in out


def test_fund_restatement_shows_both_states_the_differences_and_the_explaining_event(
    cli: Cli, dated_fund: DatedFund
) -> None:
    args = ("fund", "restatement", dated_fund.fund_id, "--effective", "2025-09-30")
    out = cli.run(*args, "--before", dated_fund.reported_at).stdout
    assert "Fund figures restated" in out
    assert "total_value_cents" in out
    assert "1,000,000.00" in out
    assert "400,000.00" in out
    assert "-600,000.00" in out
    assert "Per company" in out
    assert "c-1 Inc" in out
    assert "Explained by" in out
    assert "VALUATION_METHOD_WRITE_DOWN" in out

    answer = _json(cli, *args, "--before", dated_fund.reported_at)
    assert answer["before"]["total_value_cents"] == "100000000"
    assert answer["after"]["total_value_cents"] == "40000000"
    assert {c["figure"]: c["delta"] for c in answer["changes"]}["total_value_cents"] == (
        "-60000000"
    )
    [company] = answer["companies"]
    assert company["company_id"] == "c-1"
    assert [e["event"]["version"] for e in answer["events"]] == [str(dated_fund.write_down_version)]

    # Between two times after the write-down, nothing was restated.
    quiet = cli.run(*args, "--before", "2030-01-01", "--after", "2030-01-02").stdout
    assert "nothing was restated" in quiet


def test_bad_dates_are_usage_errors_and_an_unknown_fund_is_not_found(
    cli: Cli, fund_id: str
) -> None:
    bad = cli.run("fund", "at", fund_id, "--effective", "2025-02-30", expect=2)
    assert "--effective" in bad.output
    cli.run("fund", "restatement", fund_id, "--effective", "2025-09-30", "--before", "x", expect=2)
    missing = cli.run("fund", "at", fund_id, "--effective", "2025-09-30", expect=5)
    assert "NOT_FOUND" in missing.output
