"""Which process group served a figure's calls, and its CPU per call.

Server CPU per call (process CPU seconds ÷ calls, in µs) is the figure that this shared
machine's noise moves least (issue 11): a neighbour's load slows the calls down, but hardly
changes what each one costs the server. The probes (probes.py) give each group's CPU as a
percent of one core over the measured window; a group may be several processes (PostgreSQL,
a service with several workers), summed.
"""

from __future__ import annotations

from tests.bench.auth_figures import server_of
from tests.bench.chain_figures import chain_server_of
from tests.bench.measure import Figure
from tests.bench.peer_figures import is_peer
from tests.bench.peer_threads import PEER
from tests.bench.phase_workers import server_name as workers_server

# The process group serving each figure kind that the event store does not serve. A new
# phase whose calls another process serves adds its kinds here.
SERVERS = {
    "fundstate": "projector",
    "visible": "projector",
    "visible-lag": "projector",
    "visible-idle": "projector",
    "stateat": "snapshotter",
    "stateat-two": "snapshotter",
    "snapshot": "snapshotter",
    "preview": "allocation",
    "commit": "allocation",
}
# Raw PostgreSQL baselines: no server of ours (PostgreSQL's CPU is shown apart).
RAW_KINDS = frozenset({"insert", "unnest100"})


def server_group(key: str) -> str | None:
    """The probe group whose CPU is the server's for this figure, None for raw baselines."""
    kind = key.split(".", 1)[0]
    if kind in RAW_KINDS:
        return None
    if is_peer(key):  # the library runs in the benchmark's own process: caller and store
        return PEER
    auth_server = server_of(key)  # the auth phase's secure and plaintext instances
    if auth_server is not None:
        return auth_server
    chain_server = chain_server_of(key)  # the chain phase's two instances
    if chain_server is not None:
        return chain_server
    if kind == "workers":  # workers.<kind>.w<count>...: that count's own instance
        _, what, count = key.split(".")[:3]
        return workers_server(what, int(count.removeprefix("w")))
    if kind in ("echo-bare", "stream50-bare"):
        return "echo-bare"
    if kind.startswith(("echo", "stream")):
        return "echo"
    return SERVERS.get(kind, "event-store")


def server_cpu_pct(f: Figure) -> float | None:
    """The serving group's CPU over the window, percent of one core."""
    group = server_group(f.key)
    return None if group is None else f.cpu.get(group)


def cpu_us_per_call(f: Figure) -> float | None:
    """The serving group's CPU seconds in the window ÷ the calls that ended in it, in µs
    (a batch append is one call). None without a server, a probe reading or a call; and
    when the probe saw no CPU at all though calls were served (its processes were not the
    ones serving, e.g. workers it did not find), rather than a cost of zero."""
    pct = server_cpu_pct(f)
    if pct is None or pct <= 0 or f.result.calls == 0 or f.result.seconds <= 0:
        return None
    return pct / 100 * f.result.seconds / f.result.calls * 1e6
