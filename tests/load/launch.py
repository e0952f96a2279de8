"""Runs locust headless as a subprocess, bounded in time (the driver's and the smoke's)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
REPO_ROOT = LOCUSTFILE.parents[2]
STARTUP_ALLOWANCE = 90  # seconds for locust to start and write its reports


@dataclass(frozen=True)
class LocustRun:
    seed: Path  # the seed file (seed.py)
    users: int
    spawn_rate: float
    duration: int  # seconds
    csv_prefix: Path  # locust writes <prefix>_stats.csv and friends
    html: Path
    wait: str = "0.5,1.5"
    stop_timeout: int = 10
    # Reset the stats once every user is spawned: the report is the steady state.
    reset_stats: bool = False

    @property
    def stats_csv(self) -> Path:
        return self.csv_prefix.with_name(self.csv_prefix.name + "_stats.csv")

    def argv(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(LOCUSTFILE),
            "--headless",
            "--users",
            str(self.users),
            "--spawn-rate",
            str(self.spawn_rate),
            "--run-time",
            f"{self.duration}s",
            "--stop-timeout",
            f"{self.stop_timeout}s",
            "--csv",
            str(self.csv_prefix),
            "--html",
            str(self.html),
            "--only-summary",
            *(["--reset-stats"] if self.reset_stats else []),
        ]

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env["FUNDLEDGER_LOADTEST_SEED"] = str(self.seed.absolute())
        env["FUNDLEDGER_LOADTEST_WAIT"] = self.wait
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        return env


def run_locust(run: LocustRun, log: Path | None = None) -> int:
    """Locust's exit code (1 when any request failed); raises TimeoutError if it overruns.

    Its output goes to `log`, or to this process's stdout when None."""
    run.csv_prefix.parent.mkdir(parents=True, exist_ok=True)
    run.html.parent.mkdir(parents=True, exist_ok=True)
    limit = run.duration + run.stop_timeout + STARTUP_ALLOWANCE
    argv, env = run.argv(), run.environment()
    if log is None:
        return _wait(subprocess.Popen(argv, env=env, cwd=REPO_ROOT), limit)
    with log.open("w") as sink:
        process = subprocess.Popen(
            argv, env=env, cwd=REPO_ROOT, stdout=sink, stderr=subprocess.STDOUT
        )
        return _wait(process, limit)


def _wait(process: subprocess.Popen[bytes], limit: float) -> int:
    try:
        return process.wait(timeout=limit)
    except BaseException as err:  # overrun, or Ctrl+C: never leave locust behind
        process.kill()
        process.wait(timeout=30)
        if isinstance(err, subprocess.TimeoutExpired):
            raise TimeoutError(f"locust ran longer than {limit:g}s and was killed") from None
        raise
