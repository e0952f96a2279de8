"""Plain HTTP requests to our own loopback servers, never through a proxy."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable

# urllib honours http_proxy/HTTP_PROXY from the environment and does not exempt
# 127.0.0.1 by itself: on a machine with a proxy configured, a health probe would
# otherwise go out to the proxy and fail (or, worse, reach something else).
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def fetch(request: str | urllib.request.Request, timeout: float = 2.0) -> tuple[int, bytes]:
    """(HTTP status, body) of a request; HTTP error statuses are returned, not raised.

    Connection errors raise OSError (urllib.error.URLError is one).
    """
    try:
        with _opener.open(request, timeout=timeout) as response:
            status: int = response.status
            return status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_http_ok(
    make_request: Callable[[], str | urllib.request.Request],
    *,
    timeout: float,
    check_alive: Callable[[], None],
    request_timeout: float = 1.0,
    interval: float = 0.05,
) -> str | None:
    """Poll until a request answers 200 (None) or `timeout` passes: then why not (a string).

    `check_alive` raises when the server's process has exited, so a crash is not waited out.
    """
    deadline = time.monotonic() + timeout
    last_error = ""
    while True:
        check_alive()
        try:
            status, body = fetch(make_request(), timeout=request_timeout)
            if status == 200:
                return None
            last_error = f"HTTP {status}: {body[:300]!r}"
        except OSError as exc:
            last_error = str(exc)
        if time.monotonic() >= deadline:
            return last_error
        time.sleep(interval)
