"""The servicer's request mappers: expected state, time windows, batch sizes, page tokens.

Pure: no servers. Each refusal is INVALID_ARGUMENT with its registered reason and field.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
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


def test_batch_size_is_capped_and_never_negative() -> None:
    assert m.batch_size(0) == 0
    assert m.batch_size(7) == 7
    assert m.batch_size(5000) == m.MAX_BATCH_SIZE
    assert refusal(lambda: m.batch_size(-1)) == (Reason.FIELD_NEGATIVE, "batch_size")


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
