"""The README's worked example (scripts/worked_example.py) runs against the secure stack: it
finds the CA and mints its dev token from the stack dir, as it does against `make run`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.full_stack import FullStack

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "worked_example.py"


def test_worked_example_runs_against_the_secure_stack(full_stack: FullStack) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNDLEDGER_")}
    env["FUNDLEDGER_STACK_DIR"] = str(full_stack.stack_dir)
    done = subprocess.run(
        [sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "current state (projector, v9)" in done.stdout
    assert "(snapshotter, v6," in done.stdout
