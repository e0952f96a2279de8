"""One port for several worker processes, and for no one else.

gRPC servers normally refuse SO_REUSEPORT here (server.py): a stale second instance would
silently share the port. Workers must share it, so the supervisor claims the port first:

- a *reservation*: a TCP socket bound with SO_REUSEPORT and never listening. It fixes the
  port number (port 0 picks one, handed to every worker) and keeps it while workers come and
  go. A process without SO_REUSEPORT (a stray single-process instance) cannot bind beside it.
- a *lock*: an abstract Unix socket named after the port. SO_REUSEPORT would let a second
  supervisor of the same user join the port (on any address: one bound to 127.0.0.1 would
  even take the loopback traffic from one bound to 0.0.0.0); its lock bind fails instead. Abstract
  sockets vanish with their process, so a killed supervisor leaves nothing stale behind.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass


class PortClaimError(RuntimeError):
    """The port is taken (by another process or another supervisor)."""


@dataclass
class PortClaim:
    port: int
    _reservation: socket.socket
    _lock: socket.socket

    def close(self) -> None:
        self._reservation.close()
        self._lock.close()


def lock_name(port: int) -> str:
    """Per port, whatever the address: see the module's docstring."""
    return f"\0fundledger-grpc-port/{port}"


def claim_port(host: str, port: int) -> PortClaim:
    """Reserve ``host:port`` (0 = pick one) for this process's workers; PortClaimError if taken."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    reservation = socket.socket(family, kind, proto)
    try:
        # No SO_REUSEADDR: with it, Linux lets another SO_REUSEADDR socket bind beside a
        # socket that is not listening, and this one never listens.
        reservation.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        reservation.bind(address)
    except OSError as err:
        reservation.close()
        raise PortClaimError(f"could not bind gRPC on {host}:{port} (port in use?): {err}") from err
    bound = int(reservation.getsockname()[1])
    lock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        lock.bind(lock_name(bound))
    except OSError as err:
        lock.close()
        reservation.close()
        raise PortClaimError(
            f"another supervisor already serves {host}:{bound} ({err}); not starting a second"
        ) from err
    return PortClaim(bound, reservation, lock)
