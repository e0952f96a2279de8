"""A small LRU of built GetFundState responses, one per fund.

Each is stored with everything the response is made of (fund, version, fold
version, position and the row's update time), and served only for a row with
exactly that key, so a hit is exactly what building it again would give. A
newer version of a fund replaces the older one's entry.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

from fundledger.projector.v1 import projector_pb2 as pb


class ResponseCache:
    def __init__(self, capacity: int = 2048) -> None:
        self._capacity = capacity
        self._items: OrderedDict[str, tuple[Hashable, pb.GetFundStateResponse]] = OrderedDict()

    def get(self, fund_id: str, key: Hashable) -> pb.GetFundStateResponse | None:
        found = self._items.get(fund_id)
        if found is None or found[0] != key:
            return None
        self._items.move_to_end(fund_id)
        return found[1]

    def put(self, fund_id: str, key: Hashable, response: pb.GetFundStateResponse) -> None:
        self._items[fund_id] = (key, response)
        self._items.move_to_end(fund_id)
        while len(self._items) > self._capacity:
            self._items.popitem(last=False)
