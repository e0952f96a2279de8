"""How a location inside a JSON payload is written in error messages.

`data.changes[1].to_cents`: dotted keys, bracketed array indexes. A key that is not a plain
identifier is written as a quoted JSON string (`data["odd key"]`) so the path stays unambiguous.
"""

from __future__ import annotations

import json
import re

_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def key_path(parent: str, key: str) -> str:
    """The path of member `key` of the object at `parent`."""
    if _PLAIN_KEY.fullmatch(key):
        return f"{parent}.{key}"
    return f"{parent}[{json.dumps(key, ensure_ascii=False)}]"


def index_path(parent: str, index: int) -> str:
    """The path of element `index` of the array at `parent`."""
    return f"{parent}[{index}]"
