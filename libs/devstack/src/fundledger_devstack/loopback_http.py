"""Plain HTTP requests to our own loopback servers, never through a proxy."""

from __future__ import annotations

import urllib.error
import urllib.request

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
