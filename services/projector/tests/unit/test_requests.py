"""Request fields: fund ids, min_version, ListFunds' page tokens, GetFundState's wait budget."""

from __future__ import annotations

import pytest
from fundledger_kernel.streams import is_fund_id
from fundledger_platform.errors import InvalidArgument
from fundledger_platform.pagination import encode_page_token
from fundledger_platform.reasons import Reason
from fundledger_platform.stream_ids import check_fund_id
from projector.entrypoints import requests as r


def test_fund_ids() -> None:
    assert is_fund_id("fund-3f2c:a.b_c-d")
    for bad in ("", "fund-", "fund", "funds-1", "fund-a b", "fund-" + "x" * 200):
        assert not is_fund_id(bad)
    with pytest.raises(InvalidArgument):
        check_fund_id("fund-é")


def test_a_negative_min_version_is_refused_by_name() -> None:
    assert r.min_version(0) == 0
    with pytest.raises(InvalidArgument) as caught:
        r.min_version(-1)
    assert (caught.value.reason, caught.value.field) == (Reason.FIELD_NEGATIVE, "min_version")


def test_page_tokens_round_trip_and_reject_forgeries() -> None:
    assert r.funds_after(r.funds_token("fund-42")) == "fund-42"
    # A fund id may hold the token's separator.
    assert r.funds_after(r.funds_token("fund-3f2c:a.b")) == "fund-3f2c:a.b"
    assert r.funds_after("") is None
    forgeries = (
        "xyz",
        r.funds_token("fund-a b"),
        "ZjI6ZnVuZC0x",
        encode_page_token("snapshots", ["fund-1"]),  # another RPC's token
    )
    for forged in forgeries:
        with pytest.raises(InvalidArgument) as caught:
            r.funds_after(forged)
        assert caught.value.reason == Reason.INVALID_PAGE_TOKEN


def test_wait_budget_ends_before_the_deadline() -> None:
    assert r.wait_budget(None, 30.0) == 30.0
    assert r.wait_budget(1.0, 30.0) == pytest.approx(0.8)
    assert r.wait_budget(10.0, 30.0) == pytest.approx(9.5)
    assert r.wait_budget(100.0, 30.0) == 30.0
    assert r.wait_budget(0.0, 30.0) == 0.0
