"""Whether a row's stored state can be used, and the state it holds.

A row is usable only when this fold version wrote it and its JSON reads back as
a state of this fund at the row's own version. Anything else (a rolling deploy
of another fold, a damaged or hand-edited row) is StoredStateError: the apply
path then folds the stream again from the log and stores that; the read path
folds it in memory and stores nothing (docs in the service README).
"""

from __future__ import annotations

import json

from fundledger_kernel.fund import (
    FOLD_VERSION,
    FoldVersionMismatchError,
    FundState,
    StoredStateError,
    empty_state,
    state_from_json,
)


def row_state(fund_id: str, version: int, fold_version: int, text: str) -> FundState:
    """The state a row stores; StoredStateError when this fold cannot use it."""
    if fold_version != FOLD_VERSION:
        raise FoldVersionMismatchError(fold_version)
    try:
        state = state_from_json(json.loads(text))
    except ValueError as err:  # StoredStateError is one too
        raise StoredStateError(str(err)) from None
    if state.fund_id != fund_id or state.version != version:
        raise StoredStateError(
            f"the stored state is {state.fund_id} v{state.version}, the row {fund_id} v{version}"
        )
    return state


def base_state(
    fund_id: str, version: int, fold_version: int, text: str | None, known: FundState | None
) -> FundState:
    """The state to fold a row's next events over.

    `text` is None when the row is at the version of `known` (the state this
    process committed last), which then stands for it: the fold is
    deterministic, so a row at that version and fold version holds the same.
    """
    if fold_version != FOLD_VERSION:
        raise FoldVersionMismatchError(fold_version)
    if text is None:
        if known is None or known.version != version:
            raise StoredStateError(f"{fund_id}: no stored state read at version {version}")
        return known
    if version == 0:  # the placeholder of a new fund (never committed as such)
        return empty_state(fund_id)
    return row_state(fund_id, version, fold_version, text)


def committed_cents(fund_id: str, version: int, fold_version: int, text: str) -> int:
    """The committed capital a row's state shows; 0 when it cannot be read."""
    try:
        return row_state(fund_id, version, fold_version, text).committed
    except StoredStateError:
        return 0
