"""Closed-loop load on threads of this process, for the in-process peer (phase peer).

The same schedule as the client processes' (driver.py): every thread prepares its call, then
warms up, then is measured for the window; a call counts when it ends inside the window, none
starts after it, and every loop is bounded in both time and count. The peer is its own client,
so the CPU reported is this process's (``peer``), beside PostgreSQL's and the machine's.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.bench.measure import Figure
from tests.bench.probes import CpuProbe, cpu_percent
from tests.bench.stats import ShareResult, merge

MAX_CALLS_PER_THREAD = 2_000_000
# Time for the threads to prepare their calls (an aggregate each) before the warm-up.
LEAD_SECONDS = 0.5
JOIN_SECONDS = 60.0
PEER = "peer"  # this process, in the figures' cpu

# Given a thread's index, the call it repeats (made before the warm-up begins).
CallFactory = Callable[[int], Callable[[], object]]


@dataclass
class _Thread:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""


def _run(
    make_call: CallFactory, index: int, start: float, measure_from: float, measure_to: float
) -> _Thread:
    result = _Thread()
    try:
        call = make_call(index)
    except Exception as err:  # a setup failure is a result too
        result.errors, result.first_error = 1, f"{type(err).__name__}: {err}"[:300]
        return result
    time.sleep(max(0.0, start - time.perf_counter()))
    for _ in range(MAX_CALLS_PER_THREAD):
        began = time.perf_counter()
        if began >= measure_to:
            break
        try:
            call()
        except Exception as err:
            if time.perf_counter() >= measure_from:
                result.errors += 1
                result.first_error = result.first_error or f"{type(err).__name__}: {err}"[:300]
            time.sleep(0.01)  # a failing server is not to be hammered
            continue
        ended = time.perf_counter()
        if measure_from <= ended < measure_to:
            result.latencies.append(ended - began)
    return result


async def measure_threads(
    key: str,
    label: str,
    make_call: CallFactory,
    threads: int,
    *,
    postmaster: int | None,
    warmup: float,
    seconds: float,
) -> Figure:
    probe = CpuProbe({PEER: os.getpid()}, postmaster)
    start = time.perf_counter() + LEAD_SECONDS
    measure_from = start + warmup
    measure_to = measure_from + seconds
    results: list[_Thread] = []
    lock = threading.Lock()

    def body(index: int) -> None:
        result = _run(make_call, index, start, measure_from, measure_to)
        with lock:
            results.append(result)

    workers = [threading.Thread(target=body, args=(i,), daemon=True) for i in range(threads)]
    for worker in workers:
        worker.start()
    await asyncio.sleep(max(0.0, measure_from - time.perf_counter()))
    before = await asyncio.to_thread(probe.snapshot)
    await asyncio.sleep(max(0.0, measure_to - time.perf_counter()))
    after = await asyncio.to_thread(probe.snapshot)
    await asyncio.to_thread(_join, workers)
    with lock:  # a thread still running after the join's bound counts as an error
        done = list(results)
    cpu = cpu_percent(before, after, seconds)
    cpu["other"] = max(0.0, cpu["machine"] - sum(v for k, v in cpu.items() if k != "machine"))
    share = ShareResult(
        latencies=[x for r in done for x in r.latencies],
        errors=sum(r.errors for r in done) + threads - len(done),
        first_error=next((r.first_error for r in done if r.first_error), ""),
        window_seconds=seconds,
        cpu_seconds=cpu[PEER] * seconds / 100,
    )
    return Figure(
        key=key,
        label=label,
        unit="calls/s",
        concurrency=threads,
        events_per_call=1,
        result=merge([share]),
        cpu=cpu,
        groups=None,
    )


def _join(workers: list[threading.Thread]) -> None:
    deadline = time.monotonic() + JOIN_SECONDS
    for worker in workers:
        worker.join(max(0.0, deadline - time.monotonic()))
