"""`python -m tests.bench`: start the stack, measure everything, report."""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import time
from typing import Any

from tests.bench.machine import describe
from tests.bench.measure import Meter
from tests.bench.pg_work import PgProbe
from tests.bench.phases import Phases
from tests.bench.probes import CpuProbe
from tests.bench.profile import summarize
from tests.bench.report import render, write_json
from tests.bench.settings import BenchSettings
from tests.bench.stack import running_stack
from tests.bench.targets import check_targets
from tests.bench.workers import ClientPool


def log(message: str) -> None:
    print(message, flush=True)


async def _measure_all(settings: BenchSettings) -> int:
    started = time.monotonic()
    extra: dict[str, Any] = {"settings": dataclasses.asdict(settings)}
    with running_stack(settings, log) as stack:
        extra["machine"] = await describe(stack.database_url)
        log(
            f"commit {extra['machine']['commit']}; "
            f"{extra['machine']['nproc']} cores ({extra['machine']['cpu_model']}), "
            f"{settings.client_procs} client processes, servers on {settings.event_loop}, "
            f"{settings.warmup_seconds:g} s warm-up + {settings.seconds:g} s per figure"
        )
        pool = ClientPool(settings.client_procs)
        try:
            meter = Meter(
                pool,
                CpuProbe(stack.pids, stack.postmaster),
                stack.metrics,
                settings.warmup_seconds,
                settings.seconds,
                log,
                PgProbe(stack.database_url),
            )
            phases = Phases(meter, stack, settings, log)
            for name in settings.phases:
                await phases.run(name)
            extra["notes"] = phases.notes
        finally:
            pool.close()
        profiles = [stack.profile_path, *stack.service_profiles]
    figures = meter.figures
    checks = check_targets({f.key: f for f in figures})
    extra["elapsed_seconds"] = round(time.monotonic() - started, 1)
    log("")
    log(render(figures, checks))
    for profile in profiles:
        if profile is not None and profile.exists():
            log("")
            log(summarize(profile))
    path = write_json(settings.out_dir, figures, checks, extra)
    log("")
    log(f"whole run {extra['elapsed_seconds']:.0f} s; results in {path}")
    return 0


def main() -> int:
    try:
        settings = BenchSettings.from_env()
    except ValueError as err:
        print(f"bench: {err}", file=sys.stderr)
        return 2
    return asyncio.run(_measure_all(settings))
