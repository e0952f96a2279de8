"""Phase `workers` (issue 11): one worker process against two, on the one port.

An event store and a read-only projector are started per worker count (FUNDLEDGER_WORKERS 1
and 2; fundledger_platform.workers) beside the run's own services, on the run's database and
configured like them (secure by default). AppendToStream (1 event, own streams, c32) goes to
the event stores, GetFundState (c16) to the projectors, which read the funds the run's own
projector keeps. The two counts alternate (1 then 2, then 2 then 1 in the next round), so a
drift of this shared machine's load favours neither. Reported per figure and count: calls/s,
p50/p99, and the serving service's CPU per call — supervisor plus workers (probes.py) — with
PostgreSQL's beside it, and how the clients' connections fell on the workers.

The kernel spreads *connections* over the workers (SO_REUSEPORT), not calls: a client with one
long-lived channel always talks to one worker. The bench's client processes open one channel
each unless the workload asks for more (``Workload.connections``, which this phase sets): with
one connection per client process, two processes land on one worker half the time. The
connections per worker are sampled during each window and reported, so a figure whose
connections all went to one worker is seen for what it is.

The measured instances do no background work (no relay, no consumer, no catch-up), so their
CPU is the calls'.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fundledger_devstack.proc_sockets import ESTABLISHED, LISTEN, owners, sockets

from tests.bench.extra_stores import start_event_store
from tests.bench.fund_seed import NotReadyError, fund_ids, seed_funds, wait_projected
from tests.bench.measure import LEAD_SECONDS, Figure
from tests.bench.probes import service_processes
from tests.bench.services import Instance, ServiceError, running_services
from tests.bench.workload_spec import Workload

if TYPE_CHECKING:
    from tests.bench.phases import Phases

WORKER_COUNTS = (1, 2)
ROUNDS = 2
APPEND_CONCURRENCY = 32
STATE_CONCURRENCY = 16
# Channels per client process, when the workloads support it: enough that the kernel's hash
# puts some on every worker.
CONNECTIONS = 8
FUNDS = 20
READY_SECONDS = 120.0
START_SECONDS = 90.0
KINDS = {"append": "append 1 event, own stream", "state": "GetFundState"}
CONCURRENCY = {"append": APPEND_CONCURRENCY, "state": STATE_CONCURRENCY}
READ_ONLY = {
    "FUNDLEDGER_PROJECTOR_CONSUMER_ENABLED": "false",
    "FUNDLEDGER_PROJECTOR_CATCHUP_ENABLED": "false",
}


def workers_key(kind: str, workers: int, round_: int) -> str:
    """``workers.<append|state>.w<count>.c<concurrency>.r<round>``."""
    return f"workers.{kind}.w{workers}.c{CONCURRENCY[kind]}.r{round_}"


def server_name(kind: str, workers: int) -> str:
    return f"{'event-store' if kind == 'append' else 'projector'}-w{workers}"


async def worker_scaling(p: Phases) -> None:
    stack = p.stack
    if stack.nats_url is None:
        p.log("phase workers skipped: needs the throwaway stack (target mode)")
        p.notes["skipped_workers"] = "target mode"
        return
    p.log(f"workers: {' vs '.join(map(str, WORKER_COUNTS))} worker processes on one port")
    spread: dict[str, dict[int, int]] = {}
    try:
        async with _event_stores(p) as stores, _projectors(p) as projectors:
            funds = fund_ids(f"{p.tag}workers", FUNDS)
            await seed_funds(stack.eventstore, funds)
            await wait_projected(projectors["usual"], funds, READY_SECONDS)
            for r in range(1, ROUNDS + 1):
                order = WORKER_COUNTS if r % 2 else tuple(reversed(WORKER_COUNTS))
                p.log(f"  round {r}: {' then '.join(f'{n} worker(s)' for n in order)}")
                for kind in KINDS:
                    for n in order:
                        address = stores[n] if kind == "append" else projectors[str(n)]
                        work = _workload(p, kind, address, funds, f"{p.tag}w{n}r{r}")
                        key = workers_key(kind, n, r)
                        label = f"{KINDS[kind]}, {n} worker(s), c{CONCURRENCY[kind]}, round {r}"
                        spread[key] = await _measure(p, key, label, work, server_name(kind, n))
    except (ServiceError, NotReadyError) as err:
        p.log(f"phase workers stopped: {err}")
        p.notes["failed_workers"] = str(err)
        return
    found = comparisons({f.key: f for f in p.meter.figures}, spread)
    for line in render(found):
        p.log(line)
    p.notes["workers"] = {
        f"{c.kind}.c{CONCURRENCY[c.kind]}": {
            "calls_per_second": {str(n): c.calls[n] for n in WORKER_COUNTS},
            "p50_ms": {str(n): c.p50[n] for n in WORKER_COUNTS},
            "p99_ms": {str(n): c.p99[n] for n in WORKER_COUNTS},
            "server_cpu_ms_per_call": {str(n): c.cpu_ms[n] for n in WORKER_COUNTS},
            "postgres_cpu_ms_per_call": {str(n): c.pg_ms[n] for n in WORKER_COUNTS},
            "connections_per_worker": c.connections,
            "median_ratio": round(c.ratio, 4),
        }
        for c in found
    }


def _workload(p: Phases, kind: str, address: str, funds: tuple[str, ...], tag: str) -> Workload:
    fields: dict[str, Any] = {"tag": tag} if kind == "append" else {"funds": funds}
    fields["connections"] = CONNECTIONS
    return p.work("append" if kind == "append" else "fundstate", address, **fields)


async def _measure(p: Phases, key: str, label: str, work: Workload, name: str) -> dict[int, int]:
    """Measures one figure; returns the clients' connections per worker (pid -> count),
    sampled in the middle of the measured window."""
    port = int(work.endpoint.rsplit(":", 1)[1])
    supervisor = p.stack.pids[name]
    middle = LEAD_SECONDS + p.settings.warmup_seconds + p.settings.seconds / 2
    sample = asyncio.create_task(_sample_later(middle, port, supervisor))
    try:
        await p.meter.measure(key, label, work, CONCURRENCY[key.split(".")[1]])
    finally:
        if not sample.done():
            sample.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        return await sample
    return {}


async def _sample_later(delay: float, port: int, supervisor: int) -> dict[int, int]:
    await asyncio.sleep(delay)
    return await asyncio.to_thread(connections_per_process, port, supervisor)


def connections_per_process(port: int, supervisor: int) -> dict[int, int]:
    """Established connections on ``port`` held by each of the service's processes (its
    workers; the supervisor itself holds none)."""
    inodes = sockets(port, ESTABLISHED)
    members = service_processes(supervisor)
    workers = members[1:] or members
    return owners(inodes, workers)


async def _all_listening(name: str, port: int, workers: int) -> None:
    """Until every worker listens (health answers as soon as the first one does)."""
    for _ in range(int(START_SECONDS / 0.1)):
        if len(await asyncio.to_thread(sockets, port, LISTEN)) >= workers:
            return
        await asyncio.sleep(0.1)
    raise ServiceError(f"{name}: fewer than {workers} workers listening on {port}")


@contextlib.asynccontextmanager
async def _event_stores(p: Phases) -> AsyncIterator[dict[int, str]]:
    """An event store per worker count on the run's database, without relays."""
    stack = p.stack
    addresses: dict[int, str] = {}
    with contextlib.ExitStack() as started:
        for n in WORKER_COUNTS:
            name = server_name("append", n)
            address, port = await start_event_store(
                stack,
                started,
                name,
                security=stack.security,
                env={"FUNDLEDGER_WORKERS": str(n)},
                start_seconds=START_SECONDS,
                # A profile wraps the supervisor only (the workers are processes of their own).
                profile=n == 1,
            )
            await _all_listening(name, port, n)
            addresses[n] = address
        p.log(f"  started {', '.join(f'event store w{n} {a}' for n, a in addresses.items())}")
        yield addresses


@contextlib.asynccontextmanager
async def _projectors(p: Phases) -> AsyncIterator[dict[str, str]]:
    """The run's projector (it follows the log) and a read-only one per worker count."""
    stack = p.stack
    extra = [
        Instance(
            server_name("state", n),
            "projector",
            stack.security is not None,
            stack.eventstore,
            {**READ_ONLY, "FUNDLEDGER_WORKERS": str(n)},
        )
        for n in WORKER_COUNTS
    ]
    async with running_services(stack, ("projector",), p.log, extra) as addr:
        found = {"usual": addr["projector"]}
        for n in WORKER_COUNTS:
            address = addr[server_name("state", n)]
            await _all_listening(server_name("state", n), int(address.rsplit(":", 1)[1]), n)
            found[str(n)] = address
        yield found


@dataclass(frozen=True)
class Comparison:
    kind: str
    calls: dict[int, float]  # worker count -> median calls/s over the rounds
    p50: dict[int, float]
    p99: dict[int, float]
    cpu_ms: dict[int, float]  # the serving service's CPU per call (supervisor + workers)
    pg_ms: dict[int, float]  # PostgreSQL's CPU per call
    ratios: list[float]  # most workers / one worker, per round
    connections: dict[str, list[int]]  # key -> connections per worker (sampled)

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios) if self.ratios else 0.0


def _cpu_ms(figure: Figure, process: str) -> float:
    calls = figure.result.calls_per_second
    pct = figure.cpu.get(process)
    return 10.0 * pct / calls if pct is not None and calls > 0 else 0.0


def _median(values: Sequence[float]) -> float:
    return round(statistics.median(values), 4) if values else 0.0


def comparisons(
    figures: Mapping[str, Figure], spread: Mapping[str, Mapping[int, int]]
) -> list[Comparison]:
    found = []
    rounds = range(1, ROUNDS + 1)
    for kind in KINDS:
        per: dict[int, list[Figure]] = {
            n: [f for r in rounds if (f := figures.get(workers_key(kind, n, r))) is not None]
            for n in WORKER_COUNTS
        }
        if not all(per.values()):
            continue
        most, one = max(WORKER_COUNTS), min(WORKER_COUNTS)
        ratios = []
        for r in rounds:
            top, base = (
                figures.get(workers_key(kind, most, r)),
                figures.get(workers_key(kind, one, r)),
            )
            if top is not None and base is not None and base.value > 0:
                ratios.append(top.value / base.value)
        found.append(
            Comparison(
                kind,
                {n: _median([f.value for f in fs]) for n, fs in per.items()},
                {n: _median([f.result.p50_ms for f in fs]) for n, fs in per.items()},
                {n: _median([f.result.p99_ms for f in fs]) for n, fs in per.items()},
                {
                    n: _median([_cpu_ms(f, server_name(kind, n)) for f in fs])
                    for n, fs in per.items()
                },
                {n: _median([_cpu_ms(f, "postgres") for f in fs]) for n, fs in per.items()},
                ratios,
                {
                    workers_key(kind, n, r): sorted(
                        spread.get(workers_key(kind, n, r), {}).values()
                    )
                    for n in WORKER_COUNTS
                    for r in rounds
                },
            )
        )
    return found


def render(found: Sequence[Comparison]) -> list[str]:
    head = (
        f"{'workers (calls/s)':<30}{'w1':>8}{'w2':>8}{'w2/w1':>7}  {'p50 ms w1/w2':>14}"
        f"  {'p99 ms w1/w2':>14}  {'cpu ms/call w1/w2':>18}  {'pg ms/call w1/w2':>17}"
    )
    lines = [head, "-" * len(head)]
    for c in found:
        w1, w2 = min(WORKER_COUNTS), max(WORKER_COUNTS)
        lines.append(
            f"{KINDS[c.kind] + f', c{CONCURRENCY[c.kind]}':<30}"
            f"{c.calls[w1]:>8,.0f}{c.calls[w2]:>8,.0f}{c.ratio:>7.2f}"
            f"  {c.p50[w1]:>6.2f}/{c.p50[w2]:<7.2f}  {c.p99[w1]:>6.2f}/{c.p99[w2]:<7.2f}"
            f"  {c.cpu_ms[w1]:>8.3f}/{c.cpu_ms[w2]:<9.3f}  {c.pg_ms[w1]:>7.3f}/{c.pg_ms[w2]:<9.3f}"
        )
        spread = "; ".join(
            f"{key.split('.')[2]} r{key.rsplit('.r', 1)[1]}: {'+'.join(map(str, counts))}"
            for key, counts in c.connections.items()
            if counts and key.split(".")[2] != f"w{w1}"
        )
        lines.append(f"{'':<30}client connections per worker: {spread or 'not sampled'}")
    lines.append(
        "medians over the rounds; w2/w1 is the median of each round's ratio; cpu: the serving"
        " service (supervisor + workers), pg: PostgreSQL, both per call."
    )
    return lines
