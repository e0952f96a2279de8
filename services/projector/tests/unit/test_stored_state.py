"""Whether a stored row's state can be used (domain/stored_state)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from fundledger_kernel.fund import (
    FOLD_VERSION,
    FoldVersionMismatchError,
    StoredStateError,
    empty_state,
    state_to_json,
)
from projector.domain.stored_state import base_state, committed_cents, row_state

FUND = "fund-1"
STATE = replace(empty_state(FUND), name="Fund I", committed=500, version=3)
TEXT = json.dumps(state_to_json(STATE))


def test_a_row_of_this_fold_reads_back_its_state() -> None:
    assert row_state(FUND, 3, FOLD_VERSION, TEXT) == STATE
    assert committed_cents(FUND, 3, FOLD_VERSION, TEXT) == 500


@pytest.mark.parametrize(
    ("fund_id", "version", "fold_version", "text"),
    [
        (FUND, 3, FOLD_VERSION + 1, TEXT),  # another fold's row
        (FUND, 3, FOLD_VERSION, "{not json"),
        (FUND, 3, FOLD_VERSION, json.dumps({"fold_version": FOLD_VERSION, "called": "nine"})),
        (FUND, 3, FOLD_VERSION, json.dumps({**state_to_json(STATE), "fold_version": 0})),
        (FUND, 4, FOLD_VERSION, TEXT),  # the JSON's version is not the row's
        ("fund-2", 3, FOLD_VERSION, TEXT),  # nor its fund
    ],
)
def test_an_unusable_row_is_stored_state_error(
    fund_id: str, version: int, fold_version: int, text: str
) -> None:
    with pytest.raises(StoredStateError):
        row_state(fund_id, version, fold_version, text)
    with pytest.raises(StoredStateError):
        base_state(fund_id, version, fold_version, text, None)
    assert committed_cents(fund_id, version, fold_version, text) == 0


def test_the_base_of_an_apply() -> None:
    # A row at the version of the state the applier holds is not sent: that state stands for it.
    assert base_state(FUND, 3, FOLD_VERSION, None, STATE) is STATE
    with pytest.raises(StoredStateError):
        base_state(FUND, 4, FOLD_VERSION, None, STATE)
    with pytest.raises(FoldVersionMismatchError):
        base_state(FUND, 3, FOLD_VERSION - 1, None, STATE)
    # A new fund's placeholder row.
    placeholder = json.dumps(state_to_json(empty_state(FUND)))
    assert base_state(FUND, 0, FOLD_VERSION, placeholder, None) == empty_state(FUND)
    assert base_state(FUND, 3, FOLD_VERSION, TEXT, None) == STATE
