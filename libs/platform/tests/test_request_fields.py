"""Shared request-field checks and the stream/fund id check: one reason per condition."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from fundledger_platform.errors import InvalidArgument
from fundledger_platform.fields import malformed, non_negative, required, time_window, uuid_field
from fundledger_platform.stream_ids import check_fund_id, check_stream_id

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
