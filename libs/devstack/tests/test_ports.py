"""Port helpers: free ports are distinct and bindable; waits are bounded."""

from __future__ import annotations

import socket
import time

import pytest
from fundledger_devstack.errors import DevstackError
from fundledger_devstack.ports import free_port, port_accepts, port_is_free, wait_for_port


def test_free_ports_are_distinct_and_free() -> None:
    ports = [free_port() for _ in range(20)]
    assert len(set(ports)) == len(ports)
    assert all(port_is_free(p) for p in ports)


def test_a_listening_port_is_taken_and_accepts() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert not port_is_free(port)
        assert port_accepts(port)
        wait_for_port(port, timeout=1)


def test_wait_for_port_gives_up_after_its_timeout() -> None:
    began = time.monotonic()
    with pytest.raises(DevstackError, match="nothing listens"):
        wait_for_port(free_port(), timeout=0.3)
    assert time.monotonic() - began < 2


def test_wait_for_port_stops_early_when_the_check_fails() -> None:
    def process_died() -> None:
        raise DevstackError("server exited")

    with pytest.raises(DevstackError, match="server exited"):
        wait_for_port(free_port(), timeout=30, check=process_died)
