"""Loopback TCP ports: pick free ones, check they are free, wait until one listens."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterable

from fundledger_devstack.errors import DevstackError

LOCALHOST = "127.0.0.1"

# Ports handed out by free_port() or claimed with reserve_ports() in this process.
# free_port() binds port 0 and closes the socket, so the kernel may hand the same
# number out again before the server that was meant to use it has bound it. That
# happens in practice: a stack picks ports for PostgreSQL, NATS, every SeaweedFS
# component and the services one after the other and binds most of them only
# seconds later. Remembering what was handed out keeps one process from giving the
# same port to two servers. (Another process can still race us; that shows up as a
# server failing to bind, with its log in the error.)
_reserved: set[int] = set()
_reserved_lock = threading.Lock()


def reserve_ports(ports: Iterable[int]) -> None:
    """Never return these ports from free_port() in this process (configured ports)."""
    with _reserved_lock:
        _reserved.update(p for p in ports if p)


def free_port(host: str = LOCALHOST) -> int:
    """A TCP port on `host` that nothing listens on now and that this process never handed out."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port: int = sock.getsockname()[1]
        with _reserved_lock:
            if port not in _reserved:
                _reserved.add(port)
                return port
    raise DevstackError(f"no free TCP port found on {host}")


def claim_port(port: int, host: str = LOCALHOST) -> bool:
    """Reserve a specific port if it is free and was never handed out here; True if claimed."""
    with _reserved_lock:
        if port in _reserved or not port_is_free(port, host):
            return False
        _reserved.add(port)
        return True


def port_is_free(port: int, host: str = LOCALHOST) -> bool:
    """True when a server could bind `host:port` now.

    SO_REUSEADDR is set like the servers themselves set it, so connections lingering in
    TIME_WAIT from an earlier run do not count as "taken" while a listening socket (on
    this address or on 0.0.0.0) does.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def port_accepts(port: int, host: str = LOCALHOST, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on `host:port`."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_port(
    port: int,
    host: str = LOCALHOST,
    timeout: float = 30.0,
    check: Callable[[], None] | None = None,
) -> None:
    """Block until `host:port` accepts connections, at most `timeout` seconds.

    `check` is called between attempts and may raise to give up early, e.g. when the
    process that should listen has already exited.
    """
    deadline = time.monotonic() + timeout
    while not port_accepts(port, host):
        if check is not None:
            check()
        if time.monotonic() >= deadline:
            raise DevstackError(f"nothing listens on {host}:{port} after {timeout:.0f}s")
        time.sleep(0.05)
