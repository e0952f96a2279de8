"""The worker's side of a multi-worker service (the supervisor is fundledger_platform.workers):
its log lines name it, it dies with its supervisor, and it says when it serves."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from fundledger_platform.settings import WorkerSettings

_PR_SET_PDEATHSIG = 1
READY_DIR = "ready"


def tag_log_records(worker: str | int) -> None:
    """Every log record from now on carries ``worker`` (its index, or "supervisor"):
    the JSON lines of N workers share one stream and must say whose they are."""
    factory = logging.getLogRecordFactory()

    def tagged(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        record.worker = worker
        return record

    logging.setLogRecordFactory(tagged)


def become_worker(worker: WorkerSettings) -> None:
    """Set up a worker process; a no-op outside a supervisor."""
    if worker.index is None:
        return
    tag_log_records(worker.index)
    # SIGTERM (a graceful drain) when the supervisor dies, even by SIGKILL: a worker must not
    # keep serving a port nobody supervises. Linux only; elsewhere the check below remains.
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if worker.supervisor_pid is not None and os.getppid() != worker.supervisor_pid:
        raise SystemExit("the supervisor that started this worker is gone")


def ready_file(run_dir: Path, index: int) -> Path:
    return run_dir / READY_DIR / str(index)


def announce_ready(worker: WorkerSettings) -> None:
    """Tell the supervisor this worker serves: ready/<index> holds its pid (renamed into
    place, so the supervisor never reads half a file)."""
    if worker.index is None or worker.run_dir is None:
        return
    path = ready_file(worker.run_dir, worker.index)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(str(os.getpid()))
    partial.rename(path)
