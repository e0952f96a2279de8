"""Allocation's Prometheus metrics (prefix fundledger_allocation_)."""

from prometheus_client import Counter, Gauge

FINDINGS = Counter(
    "fundledger_allocation_findings_total",
    "Findings reported, by RPC (preview, commit), finding type and severity.",
    ["rpc", "type", "severity"],
)
COMMITS = Counter(
    "fundledger_allocation_commits_total",
    "CommitReallocation outcomes: committed, replayed (idempotent retry), blocked (error"
    " findings), conflict (version conflict, nothing written).",
    ["outcome"],
)
CONFLICTS = Counter(
    "fundledger_allocation_conflicts_total",
    "Version conflicts, by where they were caught: validation (expected_version behind the log"
    " we read) or append (the event store refused the expected version: a concurrent commit).",
    ["stage"],
)
EVENTS_FOLDED = Counter(
    "fundledger_allocation_events_folded_total",
    "Fund events read from the event store and folded into the in-memory fund views.",
)
BACKDATED_REFOLDS = Counter(
    "fundledger_allocation_backdated_refolds_total",
    "Fund views refolded from the first event because a new event was effective before what the"
    " cached view held (business time: events fold in effective order).",
)
CACHED_FUNDS = Gauge(
    "fundledger_allocation_cached_funds",
    "Funds whose folded state is held in memory.",
    # Each worker of a pod keeps its own cache: the pod holds their sum.
    multiprocess_mode="livesum",
)
