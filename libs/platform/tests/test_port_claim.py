"""The supervisor's claim on its port: workers may share it, strangers may not."""

from __future__ import annotations

import socket

import pytest
from fundledger_platform.port_claim import PortClaimError, claim_port


def _listener(port: int, *, reuse_port: bool) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen()
    return sock


def test_port_0_picks_a_port_the_workers_can_share() -> None:
    claim = claim_port("127.0.0.1", 0)
    try:
        assert claim.port > 0
        workers = [_listener(claim.port, reuse_port=True) for _ in range(2)]
        for worker in workers:
            worker.close()
    finally:
        claim.close()


def test_a_stray_process_without_so_reuseport_cannot_bind_beside_it() -> None:
    claim = claim_port("127.0.0.1", 0)
    try:
        with pytest.raises(OSError, match="in use"):
            _listener(claim.port, reuse_port=False)
    finally:
        claim.close()


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0"])
def test_a_second_supervisor_is_refused_whatever_its_address(host: str) -> None:
    claim = claim_port("127.0.0.1", 0)
    try:
        with pytest.raises(PortClaimError, match="another supervisor already serves"):
            claim_port(host, claim.port)
    finally:
        claim.close()
    claim_port(host, claim.port).close()  # released with the first claim


def test_a_port_taken_by_a_plain_listener_is_refused() -> None:
    taken = _listener(0, reuse_port=False)
    try:
        with pytest.raises(PortClaimError, match="port in use"):
            claim_port("127.0.0.1", taken.getsockname()[1])
    finally:
        taken.close()
