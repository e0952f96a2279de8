"""Where each service and backing server is: option/env override > endpoints.json > default.

A running stack writes `<stack dir>/endpoints.json` (see fundledger_devstack.endpoints); the CLI
reads it so `fundledger …` finds a stack started on any ports. Without that file it falls back to
the documented default local ports.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from fundledger_devstack.endpoints import FILE_NAME, SERVER_ENTRIES, read_endpoints
from fundledger_devstack.services import SERVICES

from fundledger_cli.errors import CliError, ExitCode

SERVICE_NAMES: tuple[str, ...] = tuple(spec.name for spec in SERVICES)
BACKEND_NAMES: tuple[str, ...] = SERVER_ENTRIES

DEFAULTS: Mapping[str, str] = {
    **{spec.name: f"127.0.0.1:{spec.grpc_port}" for spec in SERVICES},
    "postgres": "postgresql://postgres@127.0.0.1:55432/fundledger",
    "nats": "nats://127.0.0.1:4222",
    "s3": "http://127.0.0.1:8333",
}

FROM_OPTION = "option"
FROM_FILE = FILE_NAME
FROM_DEFAULT = "default"


@dataclass(frozen=True)
class Endpoints:
    """Every known endpoint, and where each one came from (for `stack status`)."""

    addresses: Mapping[str, str]
    sources: Mapping[str, str]

    def address(self, name: str) -> str:
        try:
            return self.addresses[name]
        except KeyError:
            raise CliError(f"no endpoint known for {name!r}", ExitCode.USAGE) from None

    def names(self) -> list[str]:
        """Services first (in start order), then backing servers, then anything else."""
        order = [*SERVICE_NAMES, *BACKEND_NAMES]
        known = [n for n in order if n in self.addresses]
        return known + sorted(n for n in self.addresses if n not in order)


def resolve_endpoints(stack_dir: Path, overrides: Mapping[str, str | None]) -> Endpoints:
    """Defaults, replaced by the stack's endpoints.json if present, replaced by overrides."""
    addresses = dict(DEFAULTS)
    sources = dict.fromkeys(DEFAULTS, FROM_DEFAULT)
    try:
        from_file = read_endpoints(stack_dir)
    except FileNotFoundError:
        from_file = {}
    except (OSError, ValueError, json.JSONDecodeError) as exc:
        raise CliError(f"cannot read {stack_dir / FILE_NAME}: {exc}", ExitCode.USAGE) from None
    for name, value in from_file.items():
        addresses[name] = value
        sources[name] = FROM_FILE
    for name, override in overrides.items():
        if override:
            addresses[name] = override
            sources[name] = FROM_OPTION
    return Endpoints(addresses, sources)
