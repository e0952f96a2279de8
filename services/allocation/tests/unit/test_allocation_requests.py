"""Request checks, page tokens and money formatting (pure)."""

from __future__ import annotations

import pytest
from allocation.domain.money import format_bps, format_cents
from allocation.entrypoints import requests as r
from allocation.entrypoints.page_tokens import decode_token, encode_token, page_size
from allocation_support import proposals
from fundledger_platform.errors import InvalidArgument
from fundledger_platform.stream_ids import check_fund_id


@pytest.mark.parametrize(
    ("cents", "text"),
    [(0, "0.00"), (5, "0.05"), (-5, "-0.05"), (150_000_000, "1,500,000.00"), (-100, "-1.00")],
)
def test_format_cents(cents: int, text: str) -> None:
    assert format_cents(cents) == text


def test_format_bps() -> None:
    assert (format_bps(3000), format_bps(5), format_bps(-250)) == ("30.00 %", "0.05 %", "-2.50 %")


@pytest.mark.parametrize("fund_id", ["", "fund-", "project-1", "fund-a b", "fund-" + "x" * 196])
def test_malformed_fund_ids(fund_id: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        check_fund_id(fund_id)
    assert caught.value.field == "fund_id"


def test_proposal_shape_is_checked_but_amount_rules_are_left_to_findings() -> None:
    parsed = r.proposal_of(3, proposals(("a", -5), ("a", 1)), 10)
    assert parsed.expected_version == 3
    assert [(p.company_id, p.planned_reserves_cents) for p in parsed.amounts] == [
        ("a", -5),
        ("a", 1),
    ]
    assert r.proposal_of(3, [], 10).amounts == ()
    for bad, field in [
        (proposals(("", 1)), "proposals[0].company_id"),
        (proposals(("a", 1), ("x" * 201, 1)), "proposals[1].company_id"),
        (proposals(*[(str(i), 1) for i in range(11)]), "proposals"),
    ]:
        with pytest.raises(InvalidArgument) as caught:
            r.proposal_of(3, bad, 10)
        assert caught.value.field == field
    with pytest.raises(InvalidArgument) as caught:
        r.proposal_of(-1, [], 10)
    assert caught.value.field == "expected_version"


def test_commit_fields() -> None:
    assert r.check_idempotency_key("") == ""
    assert r.check_reason("line one\nline two") == "line one\nline two"
    for check, value in [
        (r.check_user_id, ""),
        (r.check_user_id, "a\tb"),
        (r.check_reason, "  "),
        (r.check_reason, "x\x00"),
        (r.check_reason, "x" * 2001),
        (r.check_idempotency_key, "k" * 201),
    ]:
        with pytest.raises(InvalidArgument):
            check(value)


def test_page_tokens_round_trip_and_belong_to_one_fund() -> None:
    token = encode_token("fund-a", 42)
    assert decode_token("fund-a", token) == 42
    assert decode_token("fund-a", "") is None
    for fund_id, bad in [("fund-b", token), ("fund-a", "garbage!"), ("fund-a", token[:-2])]:
        with pytest.raises(InvalidArgument) as caught:
            decode_token(fund_id, bad)
        assert caught.value.reason == "INVALID_PAGE_TOKEN"


def test_page_size() -> None:
    assert (page_size(0), page_size(7), page_size(10_000)) == (50, 7, 500)
    with pytest.raises(InvalidArgument):
        page_size(-1)
