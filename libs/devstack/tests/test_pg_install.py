"""PgInstall.find(): the FUNDLEDGER_PG_BIN_DIR override and the default search."""

from __future__ import annotations

from pathlib import Path

import pytest
from fundledger_devstack.errors import DevstackError
from fundledger_devstack.pg_install import PG_BIN_DIR_VAR, PgInstall


def fake_install(root: Path) -> Path:
    """A bin dir with an initdb and a pg_config that places share/lib under `root`."""
    bin_dir = root / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "initdb").write_text("#!/bin/sh\nexit 1\n")
    pg_config = bin_dir / "pg_config"
    pg_config.write_text(
        "#!/bin/sh\n"
        f'case "$1" in --sharedir) echo {root / "share"};; --pkglibdir) echo {root / "lib"};; '
        "*) exit 1;; esac\n"
    )
    pg_config.chmod(0o755)
    return bin_dir


def test_the_variable_names_the_bin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = fake_install(tmp_path / "pgts")
    monkeypatch.setenv(PG_BIN_DIR_VAR, str(bin_dir))
    install = PgInstall.find()
    assert install.bin_dir == bin_dir
    assert install.tool("postgres") == str(bin_dir / "postgres")
    # share and lib dirs come from that installation's pg_config, so TimescaleDB is
    # looked for there and not in the system installation.
    assert install.share_dir == tmp_path / "pgts" / "share"
    assert install.pkglib_dir == tmp_path / "pgts" / "lib"
    assert not install.timescale_available
    (tmp_path / "pgts" / "share" / "extension").mkdir(parents=True)
    (tmp_path / "pgts" / "share" / "extension" / "timescaledb.control").touch()
    (tmp_path / "pgts" / "lib").mkdir()
    (tmp_path / "pgts" / "lib" / "timescaledb.so").touch()
    assert PgInstall.find().timescale_available


def test_a_bin_dir_without_initdb_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Never a silent fall-back to the system installation (the other storage mode).
    monkeypatch.setenv(PG_BIN_DIR_VAR, str(tmp_path / "nothing-here"))
    with pytest.raises(DevstackError, match=PG_BIN_DIR_VAR):
        PgInstall.find()


def test_unset_or_empty_keeps_the_default_search(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PG_BIN_DIR_VAR, raising=False)
    default = PgInstall.find()
    assert (default.bin_dir / "initdb").exists()
    monkeypatch.setenv(PG_BIN_DIR_VAR, "")
    assert PgInstall.find() == default
