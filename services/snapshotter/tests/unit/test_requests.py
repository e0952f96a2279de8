"""Request fields: timestamps, windows and the two RPCs' page tokens (no servers)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fundledger_platform.errors import InvalidArgument
from fundledger_platform.reasons import Reason
from google.protobuf.timestamp_pb2 import Timestamp
from snapshotter.domain.model import Snapshot, Trigger
from snapshotter.entrypoints import requests as r

FUND = "fund-6b1d"
OTHER = "fund-9c2e"


def snapshot(version: int, fold_version: int, fund_id: str = FUND) -> Snapshot:
    return Snapshot(
        snapshot_id=uuid.uuid4(),
        fund_id=fund_id,
        version=version,
        position=version * 10,
        event_time=datetime(2026, 3, 1, tzinfo=UTC),
        fold_version=fold_version,
        trigger=Trigger.MANUAL,
        events_since_previous=version,
    )


def refused(call: Callable[[], object]) -> Reason:
    with pytest.raises(InvalidArgument) as caught:
        call()
    return Reason(caught.value.reason)


def test_snapshot_tokens_round_trip_within_their_fund() -> None:
    token = r.snapshots_token(snapshot(150, 2))
    assert r.snapshots_after(token, FUND) == (150, 2)
    assert r.snapshots_after("", FUND) is None


def test_timeline_tokens_round_trip_within_their_fund() -> None:
    token = r.timeline_token(FUND, 41)
    assert r.timeline_from(token, FUND) == 41
    assert r.timeline_from("", FUND) is None


def test_tokens_of_another_rpc_or_fund_or_made_up_are_refused() -> None:
    snapshots = r.snapshots_token(snapshot(150, 2))
    timeline = r.timeline_token(FUND, 41)
    cases = [
        lambda: r.timeline_from(snapshots, FUND),  # another RPC's
        lambda: r.snapshots_after(timeline, FUND),
        lambda: r.snapshots_after(snapshots, OTHER),  # another fund's
        lambda: r.timeline_from(timeline, OTHER),
        lambda: r.snapshots_after("bogus", FUND),
        lambda: r.timeline_from("czE6MTox", FUND),  # the old codec's "s1:1:1"
    ]
    for case in cases:
        assert refused(case) is Reason.INVALID_PAGE_TOKEN


def test_timestamps_outside_the_calendar_are_malformed() -> None:
    moment = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    ts = Timestamp()
    ts.FromDatetime(moment)
    assert r.time_of(ts, "at_time") == moment
    far = Timestamp(seconds=10**12)  # past year 9999
    with pytest.raises(InvalidArgument) as caught:
        r.time_of(far, "at_time")
    assert (caught.value.reason, caught.value.field) == (Reason.FIELD_MALFORMED, "at_time")


def test_a_window_ending_before_it_starts_is_refused() -> None:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    assert r.window(start, start) == (start, start)
    assert r.window(None, start) == (None, start)
    assert r.window(start, None) == (start, None)
    with pytest.raises(InvalidArgument) as caught:
        r.window(start, start - timedelta(microseconds=1))
    assert (caught.value.reason, caught.value.field) == (Reason.TIME_RANGE_INVALID, "end_time")
