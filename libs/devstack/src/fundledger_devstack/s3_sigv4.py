"""A minimal AWS Signature V4 signer for raw S3 requests (stdlib only).

The dev stack only needs a handful of signed requests (a ListBuckets readiness probe,
a PUT/GET smoke test), and pulling in botocore for that would make every consumer of
this package install the whole AWS SDK. Services use aioboto3 for real traffic.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import urllib.parse
import urllib.request

REGION = "us-east-1"
_SERVICE = "s3"


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def signed_request(
    method: str,
    endpoint: str,
    path: str,
    access_key: str,
    secret_key: str,
    body: bytes = b"",
    now: dt.datetime | None = None,
) -> urllib.request.Request:
    """Build a urllib request for `endpoint` + `path`, signed with SigV4 (path-style)."""
    url = urllib.parse.urlsplit(endpoint)
    host = url.netloc
    when = now or dt.datetime.now(dt.UTC)
    amz_date = when.strftime("%Y%m%dT%H%M%SZ")
    day = when.strftime("%Y%m%d")
    payload_hash = hashlib.sha256(body).hexdigest()
    canonical_path = urllib.parse.quote(path, safe="/-_.~")
    headers = {"host": host, "x-amz-content-sha256": payload_hash, "x-amz-date": amz_date}
    signed_headers = ";".join(sorted(headers))
    canonical_headers = "".join(f"{k}:{headers[k]}\n" for k in sorted(headers))
    canonical_request = "\n".join(
        [method, canonical_path, "", canonical_headers, signed_headers, payload_hash]
    )
    scope = f"{day}/{REGION}/{_SERVICE}/aws4_request"
    string_to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            amz_date,
            scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    key = _hmac(("AWS4" + secret_key).encode(), day)
    for part in (REGION, _SERVICE, "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        f"{url.scheme}://{host}{canonical_path}", data=body or None, method=method
    )
    for name, value in headers.items():
        if name != "host":
            request.add_header(name, value)
    request.add_header(
        "Authorization",
        f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
        f"SignedHeaders={signed_headers}, Signature={signature}",
    )
    return request
