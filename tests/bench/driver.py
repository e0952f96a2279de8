"""Closed-loop load: each virtual client makes one call after another.

All client processes of a measurement share one wall-clock schedule: start at
`start_at`, warm up for `warmup` seconds, then measure for `seconds`. A call
counts (latency recorded) when it ends inside the measured window; no call
starts after the window, and every loop is bounded in both time and count.
A call that returns a number reports its own latency in seconds (e.g. only the
part after an append was acknowledged); otherwise latency is the whole call.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

from tests.bench.stats import ShareResult
from tests.bench.workloads import Call, Workload, open_workload

MAX_CALLS_PER_CLIENT = 2_000_000
# Connections stay open this long after the window, so the probes that read the
# servers' CPU time at the window's end still see every backend process.
LINGER_SECONDS = 0.5


@dataclass(frozen=True)
class Share:
    work: Workload
    clients: Sequence[int]  # global indices of this process's virtual clients
    start_at: float  # time.time() at which the warm-up begins
    warmup: float
    seconds: float


async def run_share(share: Share) -> ShareResult:
    try:
        async with open_workload(share.work, share.clients) as call:
            return await _drive(call, share)
    except Exception as err:  # a setup failure is a result too, not a dead worker
        return ShareResult([], 1, f"{type(err).__name__}: {err}", share.seconds, 0.0)


async def _drive(call: Call, share: Share) -> ShareResult:
    # One clock for everything: perf_counter, anchored to the shared wall-clock start.
    start = time.perf_counter() + (share.start_at - time.time())
    measure_from = start + share.warmup
    measure_to = measure_from + share.seconds
    errors = 0
    first_error = ""
    latencies: list[float] = []
    cpu: list[float] = []

    async def client(index: int) -> None:
        nonlocal errors, first_error
        for _ in range(MAX_CALLS_PER_CLIENT):
            began = time.perf_counter()
            if began >= measure_to:
                return
            try:
                own = await call(index)
            except Exception as err:
                ended = time.perf_counter()
                if ended >= measure_from:
                    errors += 1
                    first_error = first_error or f"{type(err).__name__}: {err}"[:300]
                await asyncio.sleep(0.01)  # a failing server is not to be hammered
                continue
            ended = time.perf_counter()
            if measure_from <= ended < measure_to:
                latencies.append(own if isinstance(own, float) else ended - began)

    async def cpu_probe() -> None:
        await asyncio.sleep(max(0.0, measure_from - time.perf_counter()))
        cpu.append(time.process_time())
        await asyncio.sleep(max(0.0, measure_to - time.perf_counter()))
        cpu.append(time.process_time())

    await asyncio.sleep(max(0.0, start - time.perf_counter()))
    await asyncio.gather(cpu_probe(), *(client(i) for i in share.clients))
    await asyncio.sleep(max(0.0, measure_to + LINGER_SECONDS - time.perf_counter()))
    return ShareResult(latencies, errors, first_error, share.seconds, cpu[1] - cpu[0])
