"""An immutable mapping for the fold's state.

The fold's state is shared: the projector keeps it between events, the snapshotter stores it and
later replays on top of it, and allocation reads it while planning. A plain dict inside a frozen
dataclass would still be mutable, so one careless `state.companies[x] = ...` could change a state
that someone else holds (a cached snapshot, the state a preview was computed against). FrozenMap
has no mutating methods at all: `with_item` and `without` return a new map.

Copy-on-write costs O(n) per change, which is fine for a fund (tens to hundreds of companies); it
buys plain-dict lookups, value equality and hashing, so states compare with `==` and
can be used as dict keys or in sets.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator, Mapping
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class FrozenMap(Mapping[K, V], Generic[K, V]):
    """A read-only, hashable mapping; changes return a new map and leave this one untouched."""

    __slots__ = ("_hash", "_items")

    def __init__(self, items: Mapping[K, V] | Iterable[tuple[K, V]] = ()) -> None:
        # A private copy: nobody else holds a reference to it, so nobody can change it.
        self._items: dict[K, V] = dict(items)
        self._hash: int | None = None

    def __getitem__(self, key: K) -> V:
        return self._items[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __eq__(self, other: object) -> bool:
        # Equal to any mapping with the same items, like dict; insertion order does not matter.
        if isinstance(other, FrozenMap):
            return self._items == other._items
        if isinstance(other, Mapping):
            return self._items == dict(other.items())
        return NotImplemented

    def __hash__(self) -> int:
        # Order-independent, to agree with __eq__; cached because states are compared often.
        if self._hash is None:
            self._hash = hash(frozenset(self._items.items()))
        return self._hash

    def __repr__(self) -> str:
        return f"FrozenMap({self._items!r})"

    def with_item(self, key: K, value: V) -> FrozenMap[K, V]:
        """A copy with `key` set to `value` (added or replaced)."""
        items = dict(self._items)
        items[key] = value
        return FrozenMap(items)

    def without(self, key: K) -> FrozenMap[K, V]:
        """A copy without `key`; the same map when `key` is absent."""
        if key not in self._items:
            return self
        items = dict(self._items)
        del items[key]
        return FrozenMap(items)
