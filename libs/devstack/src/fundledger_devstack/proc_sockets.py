"""Which process holds which TCP socket, read from /proc (Linux): how the multi-worker tests
and the bench's workers phase see that every worker of a service listens on the one port and
how the clients' connections fell on them."""

from __future__ import annotations

import os
from pathlib import Path

LISTEN, ESTABLISHED = "0A", "01"  # the `st` column of /proc/net/tcp


def sockets(port: int, state: str) -> set[int]:
    """Inodes of the TCP sockets on local ``port`` in ``state`` (IPv4 and IPv6)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            cols = row.split()
            if int(cols[1].rsplit(":", 1)[1], 16) == port and cols[3] == state:
                inodes.add(int(cols[9]))
    return inodes


def held(pid: int, inodes: set[int]) -> int:
    """How many of ``inodes`` process ``pid`` holds (0 when it is gone)."""
    count = 0
    fd_dir = Path(f"/proc/{pid}/fd")
    try:
        fds = list(fd_dir.iterdir())
    except OSError:
        return 0
    for fd in fds:
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:[") and int(target[8:-1]) in inodes:
            count += 1
    return count


def owners(inodes: set[int], pids: list[int]) -> dict[int, int]:
    """pid -> how many of ``inodes`` it holds."""
    return {pid: held(pid, inodes) for pid in pids}
