"""Where the CPU goes during a measurement: per-process CPU time from /proc.

PostgreSQL counts as the postmaster plus all its children (one backend per
connection, the WAL writer, the checkpointer...). A service counts the same way: a
service run as several workers is a supervisor plus its worker processes
(fundledger_platform.workers), and all of them are its CPU. Percentages are of one core:
this machine's total is 100 x nproc.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")
_PROC = Path("/proc")


@dataclass(frozen=True)
class CpuSnapshot:
    # name -> {pid: cpu seconds}
    processes: dict[str, dict[int, float]]
    machine_busy: float  # busy CPU seconds of the whole machine
    machine_total: float


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, user + system CPU seconds) of a process, None when it is gone."""
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICKS


def _children(parent: int) -> list[int]:
    found = []
    for entry in _PROC.iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None and stat[0] == parent:
                found.append(int(entry.name))
    return found


def _is_worker(pid: int) -> bool:
    try:
        environ = (_PROC / str(pid) / "environ").read_bytes()
    except OSError:
        return False
    return any(v.startswith(b"FUNDLEDGER_WORKER_INDEX=") for v in environ.split(b"\0"))


def service_processes(pid: int) -> list[int]:
    """A service's processes: ``pid`` and, when it supervises workers, its workers (children
    the supervisor marked with FUNDLEDGER_WORKER_INDEX; fundledger_platform.workers). Other
    children (the bench's own servers, when the bench process itself is probed) are not."""
    return [pid, *(child for child in _children(pid) if _is_worker(child))]


def _machine() -> tuple[float, float]:
    values = [int(v) for v in (_PROC / "stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / _TICKS, sum(values[:8]) / _TICKS


class CpuProbe:
    def __init__(self, pids: dict[str, int], postmaster: int | None) -> None:
        self._pids = pids
        self._postmaster = postmaster

    def snapshot(self) -> CpuSnapshot:
        processes: dict[str, dict[int, float]] = {}
        groups = {name: service_processes(pid) for name, pid in self._pids.items()}
        if self._postmaster is not None:
            groups["postgres"] = [self._postmaster, *_children(self._postmaster)]
        for name, members in groups.items():
            seconds = {pid: stat[1] for pid in members if (stat := _stat(pid)) is not None}
            processes[name] = seconds
        busy, total = _machine()
        return CpuSnapshot(processes, busy, total)


def cpu_percent(before: CpuSnapshot, after: CpuSnapshot, seconds: float) -> dict[str, float]:
    """Percent of one core used by each process group between two snapshots, plus
    `machine` (all cores, so up to 100 x nproc)."""
    result: dict[str, float] = {}
    for name, now in after.processes.items():
        then = before.processes.get(name, {})
        # A process that started in between counts from zero; one that ended is lost.
        used = sum(value - then.get(pid, 0.0) for pid, value in now.items())
        result[name] = 100 * used / seconds if seconds > 0 else 0.0
    total = after.machine_total - before.machine_total
    cores = os.cpu_count() or 1
    result["machine"] = (
        100 * cores * (after.machine_busy - before.machine_busy) / total if total else 0.0
    )
    return result
