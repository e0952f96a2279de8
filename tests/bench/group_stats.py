"""Group commit as the event store reports it (its Prometheus endpoint), per window."""

from __future__ import annotations

from dataclasses import dataclass

from fundledger_devstack.loopback_http import fetch

GROUP_SIZE = "fundledger_eventstore_append_group_size"
EVENTS = "fundledger_eventstore_events_appended_total"
RELAY_LAG = "fundledger_eventstore_relay_lag_events"


@dataclass(frozen=True)
class GroupSnapshot:
    buckets: dict[float, float]  # upper bound -> cumulative count
    groups: float
    appends: float  # sum of group sizes
    events: float
    relay_lag: float  # committed events the relay has not published yet


@dataclass(frozen=True)
class GroupStats:
    commits_per_second: float
    mean_group: float
    # Share of commits with at most 1 / 4 / 16 appends.
    share_le: dict[str, float]
    events_per_commit: float
    relay_lag_end: float  # at the end of the window


def scrape(address: str) -> GroupSnapshot | None:
    try:
        status, body = fetch(f"http://{address}/metrics", timeout=2.0)
    except OSError:
        return None
    if status != 200:
        return None
    buckets: dict[float, float] = {}
    values: dict[str, float] = {}
    for line in body.decode().splitlines():
        if line.startswith(f'{GROUP_SIZE}_bucket{{le="'):
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            buckets[float(bound)] = float(line.rsplit(" ", 1)[1])
        elif line.startswith(
            (f"{GROUP_SIZE}_count ", f"{GROUP_SIZE}_sum ", f"{EVENTS} ", f"{RELAY_LAG} ")
        ):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return GroupSnapshot(
        buckets,
        values.get(f"{GROUP_SIZE}_count", 0.0),
        values.get(f"{GROUP_SIZE}_sum", 0.0),
        values.get(EVENTS, 0.0),
        values.get(RELAY_LAG, 0.0),
    )


def group_stats(before: GroupSnapshot, after: GroupSnapshot, seconds: float) -> GroupStats:
    groups = after.groups - before.groups
    appends = after.appends - before.appends
    share = {
        f"le{int(bound)}": (after.buckets.get(bound, 0.0) - before.buckets.get(bound, 0.0)) / groups
        if groups
        else 0.0
        for bound in (1.0, 4.0, 16.0)
    }
    return GroupStats(
        commits_per_second=groups / seconds if seconds else 0.0,
        mean_group=appends / groups if groups else 0.0,
        share_le=share,
        events_per_commit=(after.events - before.events) / groups if groups else 0.0,
        relay_lag_end=after.relay_lag,
    )
