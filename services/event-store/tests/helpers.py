"""Re-exports of eventstore_support under its old name, for the modules that still import
`helpers`: test_append_concurrency.py, test_event_counts.py and eventstore_storage_support.py
(being reworked for TimescaleDB elsewhere). Delete once they import eventstore_support."""

from eventstore_support import (
    append,
    collect,
    event,
    insert_raw_event,
    metadata_of,
    new_category,
    new_stream,
    new_type,
    read_versions,
    reason_of,
)

__all__ = [
    "append",
    "collect",
    "event",
    "insert_raw_event",
    "metadata_of",
    "new_category",
    "new_stream",
    "new_type",
    "read_versions",
    "reason_of",
]
