"""The event store's Prometheus metrics (names documented in docs/metrics.md)."""

from prometheus_client import Counter, Gauge, Histogram

APPEND_SECONDS = Histogram(
    "fundledger_eventstore_append_seconds",
    "Time from an append entering the group-commit queue to its outcome (committed,"
    " replayed or rejected by its group's transaction): queueing plus the commit.",
    # 50 ms is the alert threshold (deploy/observability/prometheus-rules.yaml).
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
APPEND_GROUP_SIZE = Histogram(
    "fundledger_eventstore_append_group_size",
    "Appends committed together in one transaction (group commit).",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
VERSION_CONFLICTS = Counter(
    "fundledger_eventstore_version_conflicts_total",
    "Appends rejected with ABORTED because the expected version did not match.",
)
IDEMPOTENT_REPLAYS = Counter(
    "fundledger_eventstore_idempotent_replays_total",
    "Appends answered with the original result of an earlier identical request.",
)
EVENTS_APPENDED = Counter(
    "fundledger_eventstore_events_appended_total", "Events committed to the log."
)
RELAY_PUBLISHED = Counter(
    "fundledger_eventstore_relay_published_total", "Events the relay published to JetStream."
)
RELAY_LAG_EVENTS = Gauge(
    "fundledger_eventstore_relay_lag_events",
    "Committed events not yet published by the relay (log head minus checkpoint).",
    # Multi-worker pods (fundledger_platform.workers): only worker 0 runs the relay and the
    # transaction watch; its live value is the pod's.
    multiprocess_mode="livemax",
)
RELAY_IS_LEADER = Gauge(
    "fundledger_eventstore_relay_leader",
    "1 while this replica holds the relay leadership.",
    multiprocess_mode="livemax",
)
OLDEST_TRANSACTION_SECONDS = Gauge(
    "fundledger_eventstore_oldest_transaction_seconds",
    "Age of the oldest open transaction in the database; a stuck one holds back readers.",
    multiprocess_mode="livemax",
)
