"""Names of the projector's tables (schema `projector`, see migrations/).

The live table is always reached by name, never by a cached OID: the rebuild
swaps a freshly built table in under this name, and PostgreSQL resolves a name
again once a statement that waited for the swap's lock gets it, so readers and
writers move to the new table without noticing.
"""

from __future__ import annotations

SCHEMA = "projector"
LIVE_NAME = "fund_state"
REBUILD_NAME = "fund_state_rebuild"
RETIRED_NAME = "fund_state_retired"
CHECKPOINT = f"{SCHEMA}.checkpoint"


def qualified(name: str) -> str:
    return f"{SCHEMA}.{name}"


LIVE = qualified(LIVE_NAME)
