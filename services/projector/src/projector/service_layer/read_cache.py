"""GetFundState's one cache: a small LRU of built answers, one per fund.

Each answer is stored under the key of the row it was built from (version, fold
version and the row's update time, which every write moves), and is served only
for a row read at exactly that key, so a hit is exactly what building it again
would give. A newer row of a fund replaces the older one's entry. Answers are
never modified once built: they are served as they are.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

from projector.domain.model import RowKey

T = TypeVar("T")


class ReadCache(Generic[T]):
    def __init__(self, capacity: int = 2048) -> None:
        self._capacity = max(0, capacity)
        self._items: OrderedDict[str, tuple[RowKey, T]] = OrderedDict()

    def entry(self, fund_id: str) -> tuple[RowKey, T] | None:
        """The fund's entry, whatever its key (the reader checks it against the row)."""
        return self._items.get(fund_id)

    def touch(self, fund_id: str) -> None:
        """Marks the fund's entry recently used."""
        if fund_id in self._items:
            self._items.move_to_end(fund_id)

    def get(self, fund_id: str, key: RowKey) -> T | None:
        found = self._items.get(fund_id)
        if found is None or found[0] != key:
            return None
        self._items.move_to_end(fund_id)
        return found[1]

    def put(self, fund_id: str, key: RowKey, answer: T) -> None:
        if self._capacity == 0:
            return
        self._items[fund_id] = (key, answer)
        self._items.move_to_end(fund_id)
        while len(self._items) > self._capacity:
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)
