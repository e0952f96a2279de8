"""The load path, end to end and briefly: seed, locust headless (5 users, 15 s), gates.
Against the secure stack: the seeding and every virtual user call over TLS with tokens.

Against the session's whole stack (`full_stack`). It asserts correctness, not latency:
every scenario ran and none failed, the CSV names each scenario's RPC, and the gate
checker runs over the report (with the real file's operations, latency unbounded, so a
loaded machine cannot make it flaky).
"""

from __future__ import annotations

import asyncio
import csv
import math
from pathlib import Path

from tests.load.gates import AGGREGATED, Gates, OperationGate, check, load_gates, read_stats
from tests.load.launch import LocustRun, run_locust
from tests.load.operations import OPERATION_OF_METHOD, OPERATIONS
from tests.load.seed import seed
from tests.support.full_stack import FullStack

USERS = 5
DURATION = 15


def _tail(path: Path, lines: int = 60) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def test_locust_smoke(full_stack: FullStack, tmp_path: Path) -> None:
    data = asyncio.run(
        seed(
            full_stack.endpoints,
            USERS,
            3,
            stack_dir=full_stack.stack_dir,
            within=60.0,
            log=lambda _: None,
        )
    )
    assert data.stack_dir  # secure, as `make run`: every user calls with TLS and its token
    run = LocustRun(
        seed=tmp_path / "seed.json",
        users=USERS,
        spawn_rate=USERS,
        duration=DURATION,
        csv_prefix=tmp_path / "smoke",
        html=tmp_path / "smoke.html",
        wait="0.1,0.3",
        stop_timeout=5,
    )
    data.write(run.seed)
    log = tmp_path / "locust.log"

    code = run_locust(run, log)

    assert code == 0, f"locust exited {code}:\n{_tail(log)}"
    stats = read_stats(run.stats_csv)
    method_of = {op: method for method, op in OPERATION_OF_METHOD.items()}
    for name in OPERATIONS:
        op = stats.get(name)
        assert op is not None, f"{name} missing from the report:\n{_tail(log)}"
        assert op.requests > 0, name
        assert op.failures == 0, name
        assert op.methods == (method_of[name],)
    assert set(stats) == {*OPERATIONS, AGGREGATED}  # nothing reported under another name
    with (tmp_path / "smoke_exceptions.csv").open(newline="") as f:
        assert list(csv.DictReader(f)) == [], "a task raised"
    assert run.html.stat().st_size > 0

    real = load_gates()
    unbounded = Gates(
        max_error_rate=0.0,
        operations={n: OperationGate(math.inf, 0.0) for n in real.operations},
    )
    assert check(stats, unbounded) == []
