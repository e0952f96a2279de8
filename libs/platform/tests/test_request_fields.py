"""Shared request-field checks and the stream/fund id check: one reason per condition."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from fundledger_platform.errors import InvalidArgument
from fundledger_platform.fields import (
    malformed,
    non_negative,
    required,
    text,
    texts,
    time_window,
    timestamp,
    uuid_field,
)
from fundledger_platform.stream_ids import check_fund_id, check_stream_id
from google.protobuf.timestamp_pb2 import Timestamp

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _refused(call: object, *args: object) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as caught:
        call(*args)  # type: ignore[operator]
    return caught.value


def test_field_checks_pass_good_values_through() -> None:
    assert required("x", "name") == "x"
    assert non_negative(0, "n") == 0
    value = uuid.uuid4()
    assert uuid_field(str(value), "id") == value
    assert time_window(T0, T0) == (T0, T0)
    assert time_window(None, T0) == (None, T0)


@pytest.mark.parametrize(
    ("call", "args", "reason", "field"),
    [
        (required, ("", "name"), "FIELD_REQUIRED", "name"),
        (non_negative, (-1, "n"), "FIELD_NEGATIVE", "n"),
        (uuid_field, ("", "id"), "FIELD_REQUIRED", "id"),
        (uuid_field, ("nope", "id"), "FIELD_MALFORMED", "id"),
        (time_window, (T0.replace(year=2027), T0), "TIME_RANGE_INVALID", "end_time"),
    ],
)
def test_each_bad_field_has_its_reason_and_names_the_field(
    call: object, args: tuple[object, ...], reason: str, field: str
) -> None:
    err = _refused(call, *args)
    assert (err.reason, err.field) == (reason, field)


def test_malformed_names_the_field() -> None:
    err = malformed("direction", "unknown value 9")
    assert (err.reason, err.field, err.message) == (
        "FIELD_MALFORMED",
        "direction",
        "direction: unknown value 9",
    )


def test_stream_and_fund_ids() -> None:
    assert check_stream_id("user-1") == "user"
    assert check_fund_id("fund-1") == "fund-1"
    for bad in ("", "user 1", "user-", "x" * 300):
        err = _refused(check_stream_id, bad, "stream_id")
        assert (err.reason, err.field) == ("STREAM_ID_INVALID", "stream_id")
    for bad in ("", "user-1", "fund-", "fund-a b"):
        err = _refused(check_fund_id, bad, "fund_id")
        assert (err.reason, err.field) == ("FUND_ID_INVALID", "fund_id")


def test_text_passes_printable_values_through() -> None:
    for value in ("", "user-1", "bob@example.com", "Zürich ☃", "../../etc/passwd", "x" * 10):
        assert text(value, "name", max_length=10 if value == "x" * 10 else 200) == value
    assert text("line one\nline two\r\n\tend", "comment", max_length=50, multiline=True)


@pytest.mark.parametrize(
    ("value", "multiline", "reason"),
    [
        ("a\x00b", False, "FIELD_MALFORMED"),
        ("a\x00b", True, "FIELD_MALFORMED"),  # PostgreSQL cannot store NUL, even in free text
        ("a\nb", False, "FIELD_MALFORMED"),
        ("a\tb", False, "FIELD_MALFORMED"),
        ("\x1b[2J", True, "FIELD_MALFORMED"),  # a terminal escape is no line break
        ("a\x7fb", False, "FIELD_MALFORMED"),
        ("a\x85b", False, "FIELD_MALFORMED"),  # C1 control (NEL)
        ("x" * 5000, False, "FIELD_TOO_LONG"),
        ("x" * 5000 + "\x00", False, "FIELD_TOO_LONG"),  # the length is checked first
    ],
)
def test_text_refuses_nul_control_characters_and_length(
    value: str, multiline: bool, reason: str
) -> None:
    with pytest.raises(InvalidArgument) as caught:
        text(value, "user_id", max_length=200, multiline=multiline)
    assert (caught.value.reason, caught.value.field) == (reason, "user_id")


def test_texts_names_the_element_and_bounds_the_count() -> None:
    assert texts(["a", "b"], "event_types", max_length=5, max_items=2) == ["a", "b"]
    assert texts([], "event_types", max_length=5, max_items=2) == []
    err = _refused(lambda: texts(["a", "b\x00"], "event_types", max_length=5, max_items=2))
    assert (err.reason, err.field) == ("FIELD_MALFORMED", "event_types[1]")
    err = _refused(lambda: texts(["a", "bbbbbb"], "event_types", max_length=5, max_items=2))
    assert (err.reason, err.field) == ("FIELD_TOO_LONG", "event_types[1]")
    err = _refused(lambda: texts(["a"] * 3, "event_types", max_length=5, max_items=2))
    assert (err.reason, err.field) == ("FIELD_TOO_LONG", "event_types")


def test_timestamp_within_protobufs_range() -> None:
    assert timestamp(Timestamp(seconds=0), "at") == datetime(1970, 1, 1, tzinfo=UTC)
    assert timestamp(Timestamp(seconds=-62135596800), "at") == datetime(1, 1, 1, tzinfo=UTC)
    last = timestamp(Timestamp(seconds=253402300799, nanos=999_999_999), "at")
    assert last == datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)
    assert timestamp(Timestamp(seconds=-1), "at").year == 1969


@pytest.mark.parametrize(
    ("seconds", "nanos"),
    [(-62135596801, 0), (253402300800, 0), (2**63 - 1, 0), (-(2**63), 0), (0, -1), (0, 10**9)],
)
def test_timestamp_out_of_range_is_malformed(seconds: int, nanos: int) -> None:
    err = _refused(timestamp, Timestamp(seconds=seconds, nanos=nanos), "start_time")
    assert (err.reason, err.field) == ("FIELD_MALFORMED", "start_time")
