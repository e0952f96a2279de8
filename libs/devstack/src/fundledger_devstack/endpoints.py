"""`<stack dir>/endpoints.json`: how tools, the CLI and load tests find a running stack.

A flat JSON object: every service name maps to its gRPC "host:port"; the reserved
names `postgres` (a DSN), `nats` (a nats:// URL) and `s3` (an http:// endpoint) map to
the backing servers.
"""

from __future__ import annotations

import json
import os
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path

import grpc

from fundledger_devstack.health import SERVING, check_health
from fundledger_devstack.loopback_http import fetch
from fundledger_devstack.ports import port_accepts

FILE_NAME = "endpoints.json"
SERVER_ENTRIES = ("postgres", "nats", "s3")


def write_endpoints(stack_dir: Path, endpoints: Mapping[str, str]) -> Path:
    """Write atomically: a reader never sees half a file."""
    path = stack_dir / FILE_NAME
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(dict(endpoints), indent=2) + "\n")
    os.replace(tmp, path)
    return path


def read_endpoints(stack_dir: Path) -> dict[str, str]:
    return read_endpoints_file(stack_dir / FILE_NAME)


def read_endpoints_file(path: Path) -> dict[str, str]:
    """An endpoints file by its own path (it may have another name, e.g. a deployment's)."""
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a JSON object")
    return {str(k): str(v) for k, v in data.items()}


def probe(name: str, endpoint: str, credentials: grpc.ChannelCredentials | None = None) -> str:
    """A one-word status for one entry: SERVING/UP when it answers, else why not.

    A secure stack's services answer only TLS: ``credentials`` trusting its CA (the health
    service needs no token)."""
    if name not in SERVER_ENTRIES:
        return check_health(endpoint, credentials=credentials)
    url = urllib.parse.urlsplit(endpoint)
    host, port = url.hostname or "127.0.0.1", url.port
    if name == "s3":
        try:
            fetch(endpoint + "/", timeout=2)  # any HTTP answer (403 unsigned) is "up"
        except OSError:
            return "DOWN"
        return "UP"
    return "UP" if port is not None and port_accepts(port, host) else "DOWN"


def healthy(status: str) -> bool:
    return status in (SERVING, "UP")


def format_table(rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns, two spaces apart."""
    columns = max(len(row) for row in rows)
    widths = [max(len(row[i]) for row in rows if i < len(row)) for i in range(columns)]
    lines = []
    for row in rows:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row)]
        lines.append("  " + "  ".join(cells).rstrip())
    return "\n".join(lines)
