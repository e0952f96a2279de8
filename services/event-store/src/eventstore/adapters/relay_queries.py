"""The relay's statements (adapters/relay.py): one per round. The checkpoint's guard, or its
save, rides in a CTE of the select of the next batch, so a round costs PostgreSQL one
statement and one transaction; the select's columns are records.COLUMNS, the order
to_recorded_event unpacks."""

from __future__ import annotations

from eventstore.adapters.records import COLUMNS

# The batch after position $2 ($3 bounds recorded_at, $4 the count), only while the
# checkpoint `cp` guards holds. $1 is the relay's name.
SELECT_AFTER = f"""
SELECT {COLUMNS}
FROM eventstore.events WHERE position > $2 AND recorded_at >= $3 AND EXISTS (SELECT 1 FROM cp)
ORDER BY position LIMIT $4
"""
# Nothing to save this round: the table must still hold the $5 we wrote or read last.
CHECK_AND_SELECT = (
    "WITH cp AS (SELECT 1 FROM eventstore.relay_checkpoints WHERE name = $1 AND position = $5)"
    + SELECT_AFTER
)
# Save $2 over the $5 we wrote or read last, in the statement that selects what follows.
SAVE_AND_SELECT = (
    "WITH cp AS (UPDATE eventstore.relay_checkpoints SET position = $2, updated_at = now() "
    "WHERE name = $1 AND position = $5 RETURNING 1)" + SELECT_AFTER
)
SAVE = (
    "UPDATE eventstore.relay_checkpoints SET position = $2, updated_at = now() "
    "WHERE name = $1 AND position = $3"
)
