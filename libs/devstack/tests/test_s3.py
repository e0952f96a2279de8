"""A real S3 server (SeaweedFS): serves HTTP, enforces the keys, stores objects."""

from __future__ import annotations

import uuid

from fundledger_devstack.loopback_http import fetch
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
