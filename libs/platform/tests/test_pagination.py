"""One page-size rule and one page-token codec for every list RPC."""

from __future__ import annotations

import pytest
from fundledger_platform.errors import InvalidArgument
from fundledger_platform.pagination import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    decode_page_token,
    encode_page_token,
    integers,
    page_size,
)


def test_page_size_default_cap_and_refusal() -> None:
    assert page_size(0) == DEFAULT_PAGE_SIZE
    assert page_size(7) == 7
    assert page_size(MAX_PAGE_SIZE + 1) == MAX_PAGE_SIZE
    with pytest.raises(InvalidArgument) as caught:
        page_size(-1)
    assert (caught.value.reason, caught.value.field) == ("PAGE_SIZE_INVALID", "page_size")


def test_a_token_round_trips_within_its_kind_and_scope() -> None:
    token = encode_page_token("t1", [42, 7], scope="fund-a")
    assert decode_page_token(token, "t1", integers(2), scope="fund-a") == (42, 7)
    assert decode_page_token("", "t1", integers(2), scope="fund-a") is None


@pytest.mark.parametrize(
    ("kind", "scope", "parse_count"),
    [("t2", "fund-a", 2), ("t1", "fund-b", 2), ("t1", "fund-a", 3)],
    ids=["other-rpc", "other-query", "other-shape"],
)
def test_a_token_is_refused_elsewhere(kind: str, scope: str, parse_count: int) -> None:
    token = encode_page_token("t1", [42, 7], scope="fund-a")
    with pytest.raises(InvalidArgument) as caught:
        decode_page_token(token, kind, integers(parse_count), scope=scope)
    assert (caught.value.reason, caught.value.field) == ("INVALID_PAGE_TOKEN", "page_token")


@pytest.mark.parametrize("token", ["!!!", "abc", "dDE6eDox", "=" * 8, "\u00e9"])
def test_garbage_is_refused_not_crashed_on(token: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        decode_page_token(token, "t1", integers(1))
    assert caught.value.reason == "INVALID_PAGE_TOKEN"


def test_a_negative_or_non_numeric_cursor_is_refused() -> None:
    for cursor in (["-1"], ["x"], [""]):
        token = encode_page_token("t1", cursor)
        with pytest.raises(InvalidArgument):
            decode_page_token(token, "t1", integers(1))


def test_a_forged_cursor_beyond_bigint_is_refused() -> None:
    # The scope digest is no secret: a caller can forge a well-formed token around any number.
    assert decode_page_token(encode_page_token("t1", [2**63 - 1]), "t1", integers(1)) == (
        2**63 - 1,
    )
    for cursor in ([2**63], [10**40], ["1" * 5000]):
        token = encode_page_token("t1", cursor)
        with pytest.raises(InvalidArgument) as caught:
            decode_page_token(token, "t1", integers(1))
        assert caught.value.reason == "INVALID_PAGE_TOKEN"
