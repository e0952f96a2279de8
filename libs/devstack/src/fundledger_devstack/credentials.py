"""Passwords a local stack generates once and keeps under its directory, readable by us only.

``<stack dir>/credentials/<name>`` holds one password each (directory 0700, files 0600). They
are made on first use and reused by every later start, so a kept stack directory keeps its
PostgreSQL roles, NATS users and S3 keys. Nothing here is ever printed: the stack's summary
and logs name the files, never their contents.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")


class StackCredentials:
    def __init__(self, stack_dir: Path) -> None:
        self.dir = stack_dir.absolute() / "credentials"

    def path(self, name: str) -> Path:
        if not _NAME.fullmatch(name):
            raise ValueError(f"invalid credential name {name!r}")
        return self.dir / name

    def password(self, name: str) -> str:
        """The password stored as ``name``, made (32 URL-safe random bytes) on first use."""
        path = self.path(name)
        try:
            return path.read_text().strip()
        except FileNotFoundError:
            pass
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.dir.chmod(0o700)
        # URL-safe: it goes into nats:// and postgresql:// URLs without quoting.
        value = secrets.token_urlsafe(32)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            return path.read_text().strip()
        with os.fdopen(fd, "w") as handle:
            handle.write(value + "\n")
        return value
