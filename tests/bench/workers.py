"""Client processes: the load generator runs outside the orchestrating process.

Each worker is a spawned Python process with its own event loop and its own
connections; it runs one share (a slice of the virtual clients) per request
and sends back its ShareResult. Spreading the clients over several processes
keeps one Python event loop from being the bottleneck of the measurement.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from tests.bench.driver import Share, run_share
from tests.bench.stats import ShareResult

MAX_REQUESTS = 10_000


def _worker(conn: Connection) -> None:
    for _ in range(MAX_REQUESTS):
        try:
            share = conn.recv()
        except EOFError:
            return
        if share is None:
            return
        conn.send(asyncio.run(run_share(share)))


class ClientPool:
    def __init__(self, procs: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._workers: list[tuple[BaseProcess, Connection]] = []
        for i in range(procs):
            parent, child = context.Pipe()
            process = context.Process(
                target=_worker, args=(child,), name=f"bench-client-{i}", daemon=True
            )
            process.start()
            child.close()
            self._workers.append((process, parent))

    @property
    def size(self) -> int:
        return len(self._workers)

    def send(self, shares: list[Share]) -> None:
        """One share per worker, the first len(shares) workers."""
        if len(shares) > len(self._workers):
            raise ValueError("more shares than client processes")
        for (_, conn), share in zip(self._workers, shares, strict=False):
            conn.send(share)

    def receive(self, count: int, timeout: float) -> list[ShareResult]:
        results = []
        for process, conn in self._workers[:count]:
            if not conn.poll(timeout):
                raise TimeoutError(f"client process {process.name} did not answer")
            results.append(conn.recv())
        return results

    def close(self) -> None:
        for process, conn in self._workers:
            with contextlib.suppress(OSError):
                conn.send(None)
            conn.close()
            process.join(5.0)
            if process.is_alive():
                process.terminate()  # only our own worker, by its handle
                process.join(5.0)
