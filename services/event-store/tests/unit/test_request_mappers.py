"""The servicer's request mappers: expected state, time windows, batch sizes, page tokens.

Pure: no servers. Each refusal is INVALID_ARGUMENT with its registered reason and field.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest
from eventstore.domain.model import Expected, ExpectedKind
from eventstore.entrypoints import mappers as m
from fundledger.eventstore.v1 import eventstore_pb2 as pb
from fundledger_platform.errors import InvalidArgument
from fundledger_platform.reasons import Reason
from google.protobuf.timestamp_pb2 import Timestamp

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)


def refusal(call: Callable[[], Any]) -> tuple[Reason, str | None]:
    with pytest.raises(InvalidArgument) as caught:
        call()
    return caught.value.reason, caught.value.field


def test_expected_of_reads_the_oneof() -> None:
    assert m.expected_of(pb.AppendToStreamRequest()) == Expected(ExpectedKind.ANY)
    exact = pb.AppendToStreamRequest(expected_version=0)
    assert m.expected_of(exact) == Expected(ExpectedKind.EXACT, 0)
    states = {
        pb.STREAM_STATE_UNSPECIFIED: ExpectedKind.ANY,
        pb.STREAM_STATE_ANY: ExpectedKind.ANY,
        pb.STREAM_STATE_NO_STREAM: ExpectedKind.NO_STREAM,
        pb.STREAM_STATE_STREAM_EXISTS: ExpectedKind.STREAM_EXISTS,
    }
    for state, kind in states.items():
        request = pb.AppendToStreamRequest(expected_state=state)
        assert m.expected_of(request) == Expected(kind)


def test_an_unknown_expected_state_is_malformed() -> None:
    request = pb.AppendToStreamRequest(expected_state=99)  # type: ignore[arg-type]
    assert refusal(lambda: m.expected_of(request)) == (Reason.FIELD_MALFORMED, "expected_state")


def test_window_checks_its_order_and_last_days() -> None:
    start, end = NOW - timedelta(days=2), NOW - timedelta(days=1)
    assert m.window(start, end, 0, NOW) == (start, end)
    assert m.window(start, start, 0, NOW) == (start, start)
    assert m.window(None, None, 0, NOW) == (None, None)
    # last_days wins over an explicit window.
    assert m.window(start, end, 3, NOW) == (NOW - timedelta(days=3), None)
    assert refusal(lambda: m.window(end, start, 0, NOW)) == (
        Reason.TIME_RANGE_INVALID,
        "end_time",
    )
    assert refusal(lambda: m.window(None, None, -1, NOW)) == (Reason.FIELD_NEGATIVE, "last_days")


def test_batch_size_pages_by_default_is_capped_and_never_negative() -> None:
    # Pages are the default (0 = the largest page); one per message (0) only when asked for.
    assert m.batch_size(0, False) == m.MAX_BATCH_SIZE
    assert m.batch_size(7, False) == 7
    assert m.batch_size(5000, False) == m.MAX_BATCH_SIZE
    assert m.batch_size(0, True) == 0
    assert refusal(lambda: m.batch_size(-1, False)) == (Reason.FIELD_NEGATIVE, "batch_size")
    assert refusal(lambda: m.batch_size(-1, True)) == (Reason.FIELD_NEGATIVE, "batch_size")
    assert refusal(lambda: m.batch_size(3, True)) == (Reason.FIELD_MALFORMED, "batch_size")


def test_page_tokens_round_trip_within_their_listing_and_query() -> None:
    token = m.position_token(m.USER_EVENTS, 1234, "scope-a")
    assert m.position_of(token, m.USER_EVENTS, "scope-a") == 1234
    assert m.position_of("", m.USER_EVENTS, "scope-a") is None
    for kind, scope in [(m.CORRELATED_EVENTS, "scope-a"), (m.USER_EVENTS, "scope-b")]:
        with pytest.raises(InvalidArgument) as caught:
            m.position_of(token, kind, scope)
        assert (caught.value.reason, caught.value.field) == (
            Reason.INVALID_PAGE_TOKEN,
            "page_token",
        )


def test_a_user_events_token_belongs_to_its_query_not_its_paging() -> None:
    def scope(**fields: Any) -> str:
        return m.user_events_scope(pb.ListUserEventsRequest(user_id="u", **fields))

    start = Timestamp(seconds=100)
    assert scope(page_size=5) == scope(page_size=50, page_token="anything") == scope()
    different = [
        m.user_events_scope(pb.ListUserEventsRequest(user_id="v")),
        scope(event_types=["X"]),
        scope(start_time=start),
        scope(end_time=start),
        scope(last_days=3),
    ]
    assert len({scope(), *different}) == len(different) + 1


def test_last_days_beyond_the_calendar_means_all_of_it() -> None:
    earliest = datetime.min.replace(tzinfo=UTC)
    assert m.window(None, None, 2**31 - 1, NOW) == (earliest, None)
    assert m.window(None, None, 800_000, NOW) == (earliest, None)


def test_timestamps_are_read_within_protobufs_range() -> None:
    request = pb.ReadStreamRequest(max_recorded_at=Timestamp(seconds=-62_135_596_800))
    assert m.time_of(request, "max_recorded_at") == datetime(1, 1, 1, tzinfo=UTC)
    assert m.time_of(pb.ReadStreamRequest(), "max_recorded_at") is None
    for seconds, nanos in [(253_402_300_800, 0), (0, -1), (2**63 - 1, 0)]:
        bad = pb.CountEventsRequest(start_time=Timestamp(seconds=seconds, nanos=nanos))
        assert refusal(partial(m.time_of, bad, "start_time")) == (
            Reason.FIELD_MALFORMED,
            "start_time",
        )


def test_read_direction_must_be_known() -> None:
    assert m.backwards(pb.READ_DIRECTION_BACKWARDS)
    assert not m.backwards(pb.READ_DIRECTION_FORWARDS)
    assert not m.backwards(pb.READ_DIRECTION_UNSPECIFIED)
    assert refusal(lambda: m.backwards(99)) == (Reason.FIELD_MALFORMED, "direction")


def test_filters_never_carry_nul_control_characters_or_unbounded_lengths() -> None:
    assert m.categories(["fund", "user"]) == ["fund", "user"]
    assert m.event_types(["FUND_CREATED"]) == ["FUND_CREATED"]
    assert m.id_filter("", "user_id") == ""
    assert refusal(lambda: m.categories(["fund", "a\x00"])) == (
        Reason.FIELD_MALFORMED,
        "categories[1]",
    )
    assert refusal(lambda: m.event_types(["x" * 5000])) == (
        Reason.FIELD_TOO_LONG,
        "event_types[0]",
    )
    assert refusal(lambda: m.event_types(["X"] * 10_000)) == (
        Reason.FIELD_TOO_LONG,
        "event_types",
    )
    assert refusal(lambda: m.id_filter("u\x00", "user_id")) == (Reason.FIELD_MALFORMED, "user_id")
    assert refusal(lambda: m.id_filter("c\n", "correlation_id")) == (
        Reason.FIELD_MALFORMED,
        "correlation_id",
    )
