"""Request checks, the audit trail's paging and money formatting (pure)."""

from __future__ import annotations

import pytest
from allocation.domain.money import format_bps, format_cents
from allocation.entrypoints import mappers as m
from allocation.entrypoints import requests as r
from allocation.service_layer.audit_trail import AuditPage
from allocation_support import proposals
from fundledger.allocation.v1 import allocation_pb2 as pb
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


@pytest.mark.parametrize("cents", [2**63 - 1, -(2**63), r.MAX_PLANNED_RESERVES_CENTS + 1])
def test_a_planned_reserve_beyond_the_bound_is_refused(cents: int) -> None:
    # Summed into totals and deltas, such an amount would overflow the response's int64.
    bound = r.MAX_PLANNED_RESERVES_CENTS
    assert r.proposal_of(0, proposals(("a", bound), ("b", -bound)), 10).amounts[0].company_id
    with pytest.raises(InvalidArgument) as caught:
        r.proposal_of(0, proposals(("a", 1), ("b", cents)), 10)
    assert (caught.value.reason, caught.value.field) == (
        "PROPOSAL_INVALID",
        "proposals[1].planned_reserves_cents",
    )


def test_commit_fields() -> None:
    assert r.check_idempotency_key("") == ""
    assert r.check_reason("line one\nline two") == "line one\nline two"
    for check, value, reason in [
        (r.check_user_id, "", "FIELD_REQUIRED"),
        (r.check_user_id, "a\tb", "FIELD_MALFORMED"),
        (r.check_user_id, "u" * 201, "FIELD_TOO_LONG"),
        (r.check_reason, "  ", "REASON_INVALID"),
        (r.check_reason, "x\x00", "REASON_INVALID"),
        (r.check_reason, "x\x1b[2J", "REASON_INVALID"),
        (r.check_reason, "x" * 2001, "REASON_INVALID"),
        (r.check_idempotency_key, "k" * 201, "FIELD_TOO_LONG"),
        (r.check_idempotency_key, "k\x00", "FIELD_MALFORMED"),
    ]:
        with pytest.raises(InvalidArgument) as caught:
            check(value)
        assert caught.value.reason == reason


def _next_token(fund_id: str, before: int) -> str:
    return m.audit_response(fund_id, AuditPage([], before)).next_page_token


def test_audit_pages_follow_the_one_paging_rule() -> None:
    def query(page_size: int = 0, page_token: str = "") -> r.AuditQuery:
        request = pb.ListReallocationAuditRequest(page_size=page_size, page_token=page_token)
        return r.audit_query("fund-a", request)

    assert query() == r.AuditQuery(100, None)
    assert (query(page_size=7).size, query(page_size=10_000).size) == (7, 1000)
    assert query(page_token=_next_token("fund-a", 42)).before == 42
    assert m.audit_response("fund-a", AuditPage([], None)).next_page_token == ""
    token = _next_token("fund-a", 42)
    with pytest.raises(InvalidArgument) as caught:
        query(page_size=-1)
    assert caught.value.reason == "PAGE_SIZE_INVALID"
    # A token of another fund, or not one we issued, is refused, never read as a cursor.
    for bad in (_next_token("fund-b", 42), "garbage!", token[:-2]):
        with pytest.raises(InvalidArgument) as caught:
            query(page_token=bad)
        assert caught.value.reason == "INVALID_PAGE_TOKEN"
