"""The stream-id rule, shared by the event store, every service and the CLI."""

from __future__ import annotations

import pytest
from fundledger_kernel.streams import (
    MAX_STREAM_ID_LENGTH,
    category_of,
    is_fund_id,
    nats_token,
)


@pytest.mark.parametrize(
    ("stream_id", "category"),
    [
        ("fund-1", "fund"),
        ("fund-3f2c-aa.b:c_d", "fund"),
        ("user_files-x", "user_files"),
        ("a-" + "x" * (MAX_STREAM_ID_LENGTH - 2), "a"),
    ],
)
def test_well_formed_ids_give_their_category(stream_id: str, category: str) -> None:
    assert category_of(stream_id) == category


@pytest.mark.parametrize(
    "stream_id",
    [
        "",
        "fund",
        "fund-",
        "-x",
        "Fund-1",
        "1fund-x",
        "fund-a b",
        "fund-a/b",
        "fund-a\n",
        "fund-é",
        "a-" + "x" * (MAX_STREAM_ID_LENGTH - 1),
        "c" * 51 + "-x",
    ],
)
def test_malformed_ids_have_no_category(stream_id: str) -> None:
    assert category_of(stream_id) is None


def test_fund_ids_are_streams_of_the_fund_category() -> None:
    assert is_fund_id("fund-abc")
    assert not is_fund_id("funds-abc")
    assert not is_fund_id("user-abc")
    assert not is_fund_id("fund-")


def test_nats_token_keeps_one_subject_token() -> None:
    assert nats_token("fund-a.b.c") == "fund-a_b_c"
