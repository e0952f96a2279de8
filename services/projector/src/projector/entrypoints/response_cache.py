"""A small LRU of built GetFundState responses.

Keyed by everything the response is made of (fund, version, fold version and
the row's update time), so a hit is exactly what building it again would give.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

from fundledger.projector.v1 import projector_pb2 as pb


class ResponseCache:
    def __init__(self, capacity: int = 2048) -> None:
        self._capacity = capacity
        self._items: OrderedDict[Hashable, pb.GetFundStateResponse] = OrderedDict()

    def get(self, key: Hashable) -> pb.GetFundStateResponse | None:
        found = self._items.get(key)
        if found is not None:
            self._items.move_to_end(key)
        return found

    def put(self, key: Hashable, response: pb.GetFundStateResponse) -> None:
        self._items[key] = response
        self._items.move_to_end(key)
        while len(self._items) > self._capacity:
            self._items.popitem(last=False)
