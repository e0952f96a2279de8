"""The Prometheus scrape endpoint (``/metrics`` over HTTP, in a daemon thread).

One endpoint per process: the collectors live in prometheus_client's global
registry, so a second endpoint would only serve the same numbers again. A service run
as several workers (fundledger_platform.workers) has one endpoint per pod instead: its
supervisor serves the sum of the workers' files (prometheus_client's multiprocess mode,
:func:`multiprocess_registry`) and the workers serve none.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from wsgiref.simple_server import WSGIServer

from prometheus_client import REGISTRY, CollectorRegistry, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

logger = logging.getLogger(__name__)

DISABLED = -1

_lock = threading.Lock()
_server: WSGIServer | None = None
_thread: threading.Thread | None = None


def multiprocess_registry(directory: Path) -> CollectorRegistry:
    """A registry that reads the metric files the workers write into ``directory``
    (their PROMETHEUS_MULTIPROC_DIR): counters and histograms summed over the workers,
    dead ones included (a restart must not make a counter go back); gauges as each
    declares (``multiprocess_mode``)."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
    return registry


def forget_worker(directory: Path, pid: int) -> None:
    """Drop a dead worker's live gauges (its counters stay in the sums)."""
    mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]


def start_metrics_server(
    port: int, host: str = "127.0.0.1", registry: CollectorRegistry = REGISTRY
) -> int | None:
    """Serve metrics on ``host:port`` and return the bound port.

    ``port`` 0 picks a free port (tests); -1 disables the endpoint and returns
    None. If the endpoint is already running, its port is returned unchanged.
    """
    global _server, _thread
    if port == DISABLED:
        return None
    if port < 0 or port > 65535:
        raise ValueError(f"metrics port {port} is not 0..65535 or -1 (disabled)")
    with _lock:
        if _server is not None:
            if port not in (0, _server.server_port):
                logger.warning(
                    "metrics endpoint already on port %d; not opening %d",
                    _server.server_port,
                    port,
                )
            return _server.server_port
        _server, _thread = start_http_server(port, addr=host, registry=registry)
        logger.info("metrics on http://%s:%d/metrics", host, _server.server_port)
        return _server.server_port


def stop_metrics_server() -> None:
    """Stop the endpoint if it runs; safe to call at any time."""
    global _server, _thread
    with _lock:
        server, thread = _server, _thread
        _server = _thread = None
    if server is not None:
        server.shutdown()  # waits for serve_forever to return
        server.server_close()
    if thread is not None:
        thread.join(timeout=5)
