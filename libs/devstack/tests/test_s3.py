"""A real S3 server (SeaweedFS): serves HTTP, enforces the keys, stores objects."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path

import pytest
from fundledger_devstack import s3
from fundledger_devstack.loopback_http import fetch
from fundledger_devstack.ports import LOCALHOST, free_port
from fundledger_devstack.s3 import S3Server
from fundledger_devstack.s3_sigv4 import signed_request


def test_s3_port_serves_and_refuses_anonymous_requests(s3_server: S3Server) -> None:
    status, body = fetch(s3_server.endpoint + "/")
    assert status == 403
    assert b"AccessDenied" in body


def test_signed_put_then_get_round_trips(s3_server: S3Server) -> None:
    def send(
        method: str, path: str, body: bytes = b"", secret: str | None = None
    ) -> tuple[int, bytes]:
        request = signed_request(
            method,
            s3_server.endpoint,
            path,
            s3_server.access_key,
            secret or s3_server.secret_key,
            body,
        )
        return fetch(request, timeout=10)

    bucket = f"test-{uuid.uuid4().hex[:12]}"
    assert send("PUT", f"/{bucket}")[0] == 200
    payload = b"capital call notice \x00\xff"
    assert send("PUT", f"/{bucket}/docs/notice 1.pdf", payload)[0] == 200
    assert send("GET", f"/{bucket}/docs/notice 1.pdf") == (200, payload)
    status, body = send("GET", f"/{bucket}/docs/notice 1.pdf", secret="wrong")
    assert status == 403
    assert b"SignatureDoesNotMatch" in body


def test_an_internal_port_taken_meanwhile_is_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another process binds one of the ports picked for weed before weed does (a parallel
    # test run): weed exits at once, and the server starts on another set of ports.
    squatter = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    squatter.bind((LOCALHOST, 0))
    squatter.listen()
    taken = squatter.getsockname()[1]
    # The first internal port picked after the admin pair (which needs p and p + 10000 and
    # may pass a number over) is the squatter's: the master's.
    handed = iter([taken])
    admin_picked: list[int] = []
    pick_admin = s3._admin_port

    def admin_port() -> int:
        admin_picked.append(pick_admin())
        return admin_picked[-1]

    def free() -> int:
        return (next(handed, None) if admin_picked else None) or free_port()

    monkeypatch.setattr(s3, "_admin_port", admin_port)
    monkeypatch.setattr(s3, "free_port", free)
    server = S3Server(tmp_path / "s3", free_port())
    try:
        server.start()
        assert server.running
        assert taken not in server.internal_ports.values()
        assert "Port allocation failed" in server_log(server)
        assert fetch(server.endpoint + "/")[0] == 403
    finally:
        server.stop()
        squatter.close()


def server_log(server: S3Server) -> str:
    return server.log_path.read_text(errors="replace")


def test_only_an_internal_port_is_retried() -> None:
    line = (
        "E1207 13:37:42.658080 mini.go:1244 Port allocation failed: port 51937 for Master "
        "(specified by flag {flag}) is not available on 127.0.0.1 and cannot be used"
    )
    assert s3._internal_port_taken(line.format(flag="master.port"))
    assert not s3._internal_port_taken(line.format(flag="s3.port"))  # configured: an error
    assert not s3._internal_port_taken("weed: some other failure")
