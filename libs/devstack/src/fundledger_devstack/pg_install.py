"""Where the PostgreSQL server binaries are, and which optional extensions they have."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from fundledger_devstack.errors import DevstackError

# Debian/Ubuntu keep one directory per major version; several may be installed.
_DEBIAN_ROOT = Path("/usr/lib/postgresql")
# Points the tests and the local stack at another installation's bin directory, e.g. a
# private copy of PostgreSQL with TimescaleDB added, to run them in Timescale mode
# (docs/event-store.md, "Testing both storage modes"). Unset or empty: the search below.
PG_BIN_DIR_VAR = "FUNDLEDGER_PG_BIN_DIR"


@dataclass(frozen=True)
class PgInstall:
    """One PostgreSQL installation: its bin directory and what pg_config says about it."""

    bin_dir: Path

    @classmethod
    def find(cls) -> PgInstall:
        """$FUNDLEDGER_PG_BIN_DIR when set; else the newest /usr/lib/postgresql/<version>/bin,
        else the pg_config on PATH."""
        override = os.environ.get(PG_BIN_DIR_VAR, "").strip()
        if override:
            bin_dir = Path(override).expanduser().absolute()
            if not (bin_dir / "initdb").exists():
                # Asked for by name: falling back to another installation would silently
                # run the tests in the other storage mode.
                raise DevstackError(
                    f"{PG_BIN_DIR_VAR}={override} holds no PostgreSQL server binaries "
                    f"({bin_dir / 'initdb'} not found)"
                )
            return cls(bin_dir)
        versions = [
            (int(initdb.parent.parent.name), initdb.parent)
            for initdb in _DEBIAN_ROOT.glob("*/bin/initdb")
            if initdb.parent.parent.name.isdigit()
        ]
        if versions:
            return cls(max(versions)[1])
        pg_config = shutil.which("pg_config")
        if pg_config is not None:
            bin_dir = Path(_run([pg_config, "--bindir"]))
            if (bin_dir / "initdb").exists():
                return cls(bin_dir)
        raise DevstackError(
            f"PostgreSQL server binaries not found (looked in {_DEBIAN_ROOT}/<version>/bin "
            "and for pg_config on PATH); run scripts/bootstrap.sh"
        )

    def tool(self, name: str) -> str:
        return str(self.bin_dir / name)

    @cached_property
    def major_version(self) -> str:
        # "postgres (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)" -> "15"
        return _run([self.tool("postgres"), "--version"]).split()[2].split(".")[0]

    def _config(self, flag: str) -> Path | None:
        pg_config = self.bin_dir / "pg_config"
        if not pg_config.exists():
            return None
        return Path(_run([str(pg_config), flag]))

    @cached_property
    def share_dir(self) -> Path:
        return self._config("--sharedir") or Path(f"/usr/share/postgresql/{self.major_version}")

    @cached_property
    def pkglib_dir(self) -> Path:
        return self._config("--pkglibdir") or self.bin_dir.parent / "lib"

    @cached_property
    def timescale_available(self) -> bool:
        # Both halves are needed: preloading a library whose .so is missing stops the
        # server from starting at all, which is worse than running without TimescaleDB
        # (the event store then falls back to native partitioning).
        return (self.share_dir / "extension" / "timescaledb.control").exists() and (
            self.pkglib_dir / "timescaledb.so"
        ).exists()


def _run(argv: list[str]) -> str:
    try:
        return subprocess.run(
            argv, check=True, capture_output=True, text=True, timeout=30
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        raise DevstackError(f"cannot run {argv[0]}: {exc}") from exc
