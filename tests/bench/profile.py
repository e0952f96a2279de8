"""cProfile output of the event store and the fund services (FUNDLEDGER_BENCH_PROFILE=1),
boiled down.

cProfile sees only the event loop's thread (all the Python of a grpc.aio
service); time spent in gRPC's C core threads or waiting for PostgreSQL shows
up as `select`/`epoll` in the loop, not as work.
"""

from __future__ import annotations

import io
import pstats
from pathlib import Path

TOP = 30


def summarize(path: Path) -> str:
    out = io.StringIO()
    stats = pstats.Stats(str(path), stream=out)
    stats.strip_dirs()
    out.write(f"{path.stem} profile ({path}), by own time:\n")
    stats.sort_stats("tottime").print_stats(TOP)
    out.write("by cumulative time:\n")
    stats.sort_stats("cumulative").print_stats(TOP)
    return out.getvalue()
