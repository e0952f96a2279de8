"""`make loadtest`: a stack (started here, or the target's), seed, locust, gates.

Without a target, a whole local stack is started in-process with the devstack runner
(every port free-picked, state in <out>/stack, wiped first), and stopped at the end.
The seed runs in this process (asyncio), locust in its own (gevent). Reports land in
<out>: locust_stats.csv (and the other locust CSVs), report.html,
seed.json, summary.md. Exit 0 when every gate passes, 1 on a breach, 2 when the run
itself failed (the stack, the seed or locust; no stats).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sys
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from fundledger_devstack.endpoints import read_endpoints_file
from fundledger_devstack.services import SERVICES
from fundledger_devstack.stack import Stack
from fundledger_devstack.stack_config import StackConfig

from tests.load.gates import check, load_gates, read_stats
from tests.load.launch import LocustRun, run_locust
from tests.load.seed import seed
from tests.load.settings import LoadSettings
from tests.load.summary import table


@dataclass(frozen=True)
class Target:
    endpoints: dict[str, str]
    # Where a secure stack keeps its CA and dev issuer (tests/load/access.py): the folder of
    # the target's endpoints.json or of the stack started here; None with --host alone.
    stack_dir: Path | None


@contextlib.contextmanager
def stack_endpoints(settings: LoadSettings) -> Iterator[Target]:
    """The target's endpoints (its endpoints.json and/or --host addresses), or those of a
    throwaway stack that lives for the block."""
    endpoints_file = settings.endpoints_file
    if endpoints_file is not None or settings.hosts:
        given = read_endpoints_file(endpoints_file) if endpoints_file is not None else {}
        given.update(settings.hosts)
        missing = [spec.name for spec in SERVICES if spec.name not in given]
        if missing:
            raise ValueError(f"no address for {', '.join(missing)} (--target or --host)")
        print(f"target: {endpoints_file or 'hosts'} {given}", flush=True)
        yield Target(given, None if endpoints_file is None else endpoints_file.absolute().parent)
        return
    stack_dir = (settings.out_dir / "stack").absolute()
    shutil.rmtree(stack_dir, ignore_errors=True)
    print(f"starting a local stack in {stack_dir}", flush=True)
    stack = Stack(StackConfig.on_free_ports(stack_dir))
    try:
        stack.start()
        yield Target(stack.endpoints(), stack_dir)
    finally:
        print("stopping the stack", flush=True)
        stack.stop()


def _load(settings: LoadSettings, run: LocustRun) -> int:
    """Stack, seed, locust; returns locust's exit code."""
    with stack_endpoints(settings) as target:
        data = asyncio.run(
            seed(
                target.endpoints,
                settings.users,
                settings.read_funds,
                stack_dir=target.stack_dir,
            )
        )
        data.write(run.seed)
        print(
            f"locust: {settings.users} users (+{settings.spawn_rate:g}/s) for "
            f"{settings.duration}s, think time {settings.wait} s"
            + ("" if settings.reset_stats else ", ramp-up included in the stats"),
            flush=True,
        )
        return run_locust(run)


def main(argv: list[str] | None = None) -> int:
    settings = LoadSettings.parse(argv)
    out = settings.out_dir
    out.mkdir(parents=True, exist_ok=True)
    gates = load_gates(settings.gates)  # a broken gates file fails before the run
    run = LocustRun(
        seed=out / "seed.json",
        users=settings.users,
        spawn_rate=settings.spawn_rate,
        duration=settings.duration,
        csv_prefix=out / "locust",
        html=out / "report.html",
        wait=settings.wait,
        stop_timeout=settings.stop_timeout,
        reset_stats=settings.reset_stats,
    )
    for stale in out.glob("locust_*.csv"):
        stale.unlink()
    try:
        code = _load(settings, run)
    except Exception:  # the run itself failed (stack, seed, locust overran): not a gate
        traceback.print_exc()
        return 2
    if not run.stats_csv.exists():
        print(f"error: locust exited {code} without {run.stats_csv}", file=sys.stderr)
        return 2
    stats = read_stats(run.stats_csv)
    breaches = check(stats, gates)
    summary = table(stats, gates, breaches)
    (out / "summary.md").write_text(summary + "\n")
    print(f"\n{summary}\n\nreports: {run.stats_csv}, {run.html}", flush=True)
    if breaches:
        print("\ngates BREACHED:\n  " + "\n  ".join(map(str, breaches)), file=sys.stderr)
        return 1
    print(f"every gate of {settings.gates} passed", flush=True)
    return 0
