"""One measurement: drive a workload from the client processes and watch the servers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from tests.bench.driver import Share
from tests.bench.group_stats import GroupSnapshot, GroupStats, group_stats, scrape
from tests.bench.pg_work import PgProbe, PgWork, describe, pg_work
from tests.bench.probes import CpuProbe, CpuSnapshot, cpu_percent
from tests.bench.stats import Measurement, merge
from tests.bench.workers import ClientPool
from tests.bench.workloads import CALL_TIMEOUT, Workload

# Time for the workers to get the request and open their connections before the start.
LEAD_SECONDS = 0.5


@dataclass(frozen=True)
class Figure:
    key: str  # e.g. "append.own.c32"
    label: str
    unit: str  # "calls/s" or "events/s"
    concurrency: int
    events_per_call: int
    result: Measurement
    cpu: dict[str, float]  # percent of one core per process group, and the machine
    groups: GroupStats | None
    pg: PgWork | None = None  # PostgreSQL's work per event, for the figures that count it

    @property
    def value(self) -> float:
        per = self.events_per_call if self.unit == "events/s" else 1
        return self.result.calls_per_second * per


class Meter:
    def __init__(
        self,
        pool: ClientPool,
        probe: CpuProbe,
        metrics: str | None,
        warmup: float,
        seconds: float,
        log: Callable[[str], None],
        pg: PgProbe | None = None,
    ) -> None:
        self._pool = pool
        self._pg = pg
        self._probe = probe
        self._metrics = metrics
        self._warmup = warmup
        self._seconds = seconds
        self._log = log
        self.figures: list[Figure] = []

    async def prime(self, work: Workload, concurrency: int, seconds: float) -> None:
        """Run a workload unmeasured (e.g. so every server connection has warmed up)."""
        procs = min(self._pool.size, concurrency)
        start_at = time.time() + LEAD_SECONDS
        self._pool.send(
            [
                Share(work, range(p, concurrency, procs), start_at, 0.0, seconds)
                for p in range(procs)
            ]
        )
        timeout = LEAD_SECONDS + seconds + CALL_TIMEOUT + 30
        await asyncio.to_thread(self._pool.receive, procs, timeout)

    async def measure(
        self,
        key: str,
        label: str,
        work: Workload,
        concurrency: int,
        *,
        unit: str = "calls/s",
        events_per_call: int = 1,
        seconds: float | None = None,  # the measured window, when not the run's
        pg_counted_by: str | None = None,  # count PostgreSQL's work per event (pg_work.py)
    ) -> Figure:
        window = self._seconds if seconds is None else seconds
        procs = min(self._pool.size, concurrency)
        start_at = time.time() + LEAD_SECONDS
        shares = [
            Share(work, range(p, concurrency, procs), start_at, self._warmup, window)
            for p in range(procs)
        ]
        self._pool.send(shares)
        window_from = start_at + self._warmup
        pg = self._pg if pg_counted_by is not None else None
        if pg is not None:
            await pg.open()  # before the window: a backend's start-up is not the figure's
        await _sleep_until(window_from)
        # The statistics query outside the CPU window: before it at the start, after at the end.
        pg_before = await pg.snapshot() if pg is not None else None
        cpu_before, groups_before = await self._snapshot()
        await _sleep_until(window_from + window)
        cpu_after, groups_after = await self._snapshot()
        pg_after = await pg.snapshot() if pg is not None else None
        if pg is not None:
            await pg.close()
        timeout = LEAD_SECONDS + self._warmup + window + CALL_TIMEOUT + 30
        result = merge(await asyncio.to_thread(self._pool.receive, procs, timeout))
        cpu = cpu_percent(cpu_before, cpu_after, window)
        cpu["client"] = result.client_cpu_pct
        # What this machine's other tenants used meanwhile (it is shared).
        cpu["other"] = max(0.0, cpu["machine"] - sum(v for k, v in cpu.items() if k != "machine"))
        groups = None
        if groups_before is not None and groups_after is not None and work.kind == "append":
            groups = group_stats(groups_before, groups_after, window)
        work_done = None
        if pg_counted_by is not None and pg_before is not None and pg_after is not None:
            work_done = pg_work(
                pg_before,
                pg_after,
                events=result.calls * events_per_call,
                counted_by=pg_counted_by,
                cpu_seconds=cpu.get("postgres", 0.0) * window / 100,
            )
        figure = Figure(
            key, label, unit, concurrency, events_per_call, result, cpu, groups, work_done
        )
        self.figures.append(figure)
        self._log(_summary(figure))
        return figure

    async def _snapshot(self) -> tuple[CpuSnapshot, GroupSnapshot | None]:
        cpu = await asyncio.to_thread(self._probe.snapshot)
        if self._metrics is None:
            return cpu, None
        return cpu, await asyncio.to_thread(scrape, self._metrics)


async def _sleep_until(wall_clock: float) -> None:
    await asyncio.sleep(max(0.0, wall_clock - time.time()))


def _summary(f: Figure) -> str:
    r = f.result
    cpu = " ".join(f"{name} {pct:.0f}%" for name, pct in f.cpu.items() if pct >= 1)
    line = (
        f"  {f.key:<22} {f.value:>10,.0f} {f.unit:<8} p50 {r.p50_ms:6.2f} ms  "
        f"p99 {r.p99_ms:6.2f} ms  | cpu: {cpu}"
    )
    if f.groups is not None:
        g = f.groups
        line += (
            f" | group mean {g.mean_group:.1f}, {g.commits_per_second:,.0f}/s, "
            f"relay lag {g.relay_lag_end:,.0f}"
        )
    if f.pg is not None:
        line += "\n    " + describe(f.pg)
    if r.calls == 0:
        line += "\n    no call ended in the measured window"
    if r.errors:
        line += f"\n    {r.errors} errors, first: {r.first_error}"
    return line
