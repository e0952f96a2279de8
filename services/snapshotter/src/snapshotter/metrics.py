"""The snapshotter's Prometheus metrics."""

from prometheus_client import Counter, Histogram

SNAPSHOTS_CREATED = Counter(
    "fundledger_snapshotter_snapshots_created_total",
    "Snapshots written, by trigger (EVENT_COUNT, DAILY, MANUAL).",
    ["trigger"],
)
SNAPSHOT_SECONDS = Histogram(
    "fundledger_snapshotter_snapshot_creation_seconds",
    "Time to compute and write one snapshot (base lookup, log read, fold, insert).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
EVENTS_REPLAYED = Histogram(
    "fundledger_snapshotter_time_travel_events_replayed",
    "Events folded on top of the chosen snapshot to answer one time-travel query.",
    buckets=(0, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 5000),
)
CATCHUP_EVENTS = Counter(
    "fundledger_snapshotter_catchup_events_total",
    "Fund events read from the log by the catch-up (bus gaps are filled from these).",
)
