"""The apply path's decoded fund states of the live projection (a bounded LRU).

Each entry is the state this process committed for a fund (the fold's own
FundState, at its version, under this fold version). Applying the next events
folds them over it instead of parsing the stored JSON again. Only the apply
path uses it; GetFundState has its one cache of its own (read_cache.py).

An entry is only ever *used* where the database confirms it: the apply path
either reads the row's version under its lock, or writes only if the row is still at
the entry's version (see apply.py). Another replica's commit, a rebuild's
swap or a hand-edited row therefore never lets a stale entry through: the
versions differ and the stored row is read as before. The fold is
deterministic, so a row at the same version and fold version holds the same
state as the entry. With the state the entry keeps the hash of its last event in the
stream's chain, as written with it (None: not known), which the next events are checked
against (fundledger_platform.chain_check).
"""

from __future__ import annotations

from collections import OrderedDict

from fundledger_kernel.fund import FundState


class StateCache:
    def __init__(self, capacity: int = 1024) -> None:
        self._capacity = max(0, capacity)
        self._items: OrderedDict[str, tuple[FundState, bytes | None]] = OrderedDict()

    def get(self, fund_id: str) -> FundState | None:
        entry = self.entry(fund_id)
        return None if entry is None else entry[0]

    def entry(self, fund_id: str) -> tuple[FundState, bytes | None] | None:
        """The state and the chain hash written with it."""
        entry = self._items.get(fund_id)
        if entry is not None:
            self._items.move_to_end(fund_id)
        return entry

    def put(self, state: FundState, chain_hash: bytes | None = None) -> None:
        if self._capacity == 0:
            return
        current = self._items.get(state.fund_id)
        # Never move an entry backwards: two applies of one fund may finish in
        # either order (both committed; the later version is the current one).
        if current is not None and current[0].version > state.version:
            return
        self._items[state.fund_id] = (state, chain_hash)
        self._items.move_to_end(state.fund_id)
        while len(self._items) > self._capacity:
            self._items.popitem(last=False)

    def discard(self, fund_id: str) -> None:
        self._items.pop(fund_id, None)

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)
