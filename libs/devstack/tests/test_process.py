"""ManagedProcess: output goes to the log; stop() escalates to SIGKILL when ignored."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from fundledger_devstack.errors import DevstackError
from fundledger_devstack.process import ManagedProcess

IGNORES_SIGTERM = (
    "import signal, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('ready', flush=True)\n"
    "time.sleep(60)\n"
)


def test_stop_kills_a_process_that_ignores_sigterm(tmp_path: Path) -> None:
    proc = ManagedProcess("stubborn", [sys.executable, "-c", IGNORES_SIGTERM], tmp_path / "s.log")
    proc.start()
    deadline = time.monotonic() + 10
    # A line of its own: the log's header line quotes the program, 'ready' included.
    while "ready" not in proc.tail().splitlines() and time.monotonic() < deadline:
        time.sleep(0.05)
    began = time.monotonic()
    proc.stop(timeout=0.5)
    assert not proc.running
    assert time.monotonic() - began < 5
    assert proc.returncode == -9


def test_check_alive_reports_the_exit_code_and_log_tail(tmp_path: Path) -> None:
    argv = [sys.executable, "-c", "print('boom happened'); raise SystemExit(3)"]
    proc = ManagedProcess("crasher", argv, tmp_path / "c.log")
    proc.start()
    deadline = time.monotonic() + 10
    while proc.running and time.monotonic() < deadline:
        time.sleep(0.05)
    with pytest.raises(DevstackError, match=r"(?s)exited with code 3.*boom happened"):
        proc.check_alive()
