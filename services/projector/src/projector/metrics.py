"""The projector's Prometheus metrics."""

from prometheus_client import Counter, Gauge

EVENTS_APPLIED = Counter(
    "fundledger_projector_events_applied_total",
    "Fund events applied to the projection (each stream version counted once).",
)
DUPLICATES_SKIPPED = Counter(
    "fundledger_projector_duplicates_skipped_total",
    "Deliveries of events the projection already held (bus redelivery, catch-up overlap).",
)
GAPS_FILLED = Counter(
    "fundledger_projector_gaps_filled_total",
    "Gaps filled: deliveries that skipped versions, completed by reading the event store.",
)
GAP_EVENTS_FETCHED = Counter(
    "fundledger_projector_gap_events_fetched_total",
    "Events read from the event store to fill gaps.",
)
REFOLDS = Counter(
    "fundledger_projector_refolds_total",
    "Funds folded again from the log, by cause: backdated (an event sorting before the stored"
    " state in (effective_at, version) order arrived) or stored_state (the stored state was"
    " unusable: another fold version, or damaged).",
    ["cause"],
)
for _cause in ("backdated", "stored_state"):
    REFOLDS.labels(cause=_cause)  # both series exported from the start, at 0
CHAIN_UNVERIFIED = Counter(
    "fundledger_projector_chain_unverified_events_total",
    "Fund events applied whose hash could not be checked against the chain: the event store had"
    " not hashed them yet (written before the chain, not back-filled), or no previous hash was"
    " known (a row written before the projector verified).",
)
LAG_EVENTS = Gauge(
    "fundledger_projector_lag_events",
    "Fund events in the log not yet applied (bounded scan; capped at the scan size).",
    # Set by whichever worker computed the status last (the catch-up's, or a status call's).
    multiprocess_mode="livemostrecent",
)
LAG_SECONDS = Gauge(
    "fundledger_projector_lag_seconds",
    "Age of the oldest fund event not yet applied, in seconds (0 when caught up).",
    multiprocess_mode="livemostrecent",
)
REBUILDS = Counter(
    "fundledger_projector_rebuilds_total", "Projection rebuilds completed (table swapped)."
)
