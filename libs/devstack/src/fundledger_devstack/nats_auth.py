"""The local stack's NATS users: one per service that uses the bus, with only the subjects it
needs (access.py), and passwords generated once under the stack directory."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from fundledger_devstack.access import BusAccess
from fundledger_devstack.credentials import StackCredentials


def credential_name(user: str) -> str:
    return f"nats-{user.replace('_', '-')}"


def with_credentials(url: str, user: str, password: str) -> str:
    """``nats://host:port`` -> ``nats://user:password@host:port`` (the services' NATS URL)."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{user}:{password}@{rest}"


def write_config(path: Path, grants: Iterable[BusAccess], credentials: StackCredentials) -> Path:
    """nats-server's configuration (JSON is valid NATS config syntax): the users and their
    permissions; everything not allowed is denied, and a client without credentials is refused.
    Rewritten at every start, so a changed table applies to a kept stack directory."""
    users = [
        {
            "user": grant.user,
            "password": credentials.password(credential_name(grant.user)),
            "permissions": {
                "publish": {"allow": list(grant.publish)},
                "subscribe": {"allow": list(grant.subscribe)},
            },
        }
        for grant in grants
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    # Holds passwords: readable by us only, from the moment it exists.
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"authorization": {"users": users}}, handle, indent=2)
    os.replace(temporary, path)
    return path
