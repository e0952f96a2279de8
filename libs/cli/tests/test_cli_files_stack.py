"""`fundledger files …` and `fundledger stack status` against the real stack."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

Cli = Any  # conftest.CliDriver


def test_upload_download_verify(cli: Cli, created_fund: str, tmp_path: Path) -> None:
    source = tmp_path / "memo.pdf"
    source.write_bytes(os.urandom(700_000))  # three chunks
    uploaded = cli.run("files", "upload", source, "--entity", created_fund, "--user", "alice")
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    assert f"sha256: {digest}" in uploaded.stdout
    file_id = uploaded.stdout.split("file id: ")[1].split()[0]
    assert [e.event_type for e in cli.events(created_fund)][-1] == "FILE_ATTACHED"
    assert file_id in cli.run("files", "list", "--entity", created_fund).stdout

    target = tmp_path / "copy.pdf"
    downloaded = cli.run("files", "download", file_id, "-o", target)
    assert "(verified)" in downloaded.stdout
    assert target.read_bytes() == source.read_bytes()
    exists = cli.run("files", "download", file_id, "-o", target, expect=2)
    assert "--force" in exists.output
    assert not target.with_name("copy.pdf.part").exists()

    verified = cli.run("files", "verify", "--user", "alice")
    assert "0 missing, 0 mismatched" in verified.stdout


def test_download_unknown_file(cli: Cli, tmp_path: Path) -> None:
    result = cli.run(
        "files", "download", "00000000-0000-4000-8000-000000000000", "-o", tmp_path / "x", expect=5
    )
    assert "reason: FILE_NOT_FOUND" in result.output
    assert not (tmp_path / "x").exists()


def test_stack_status_all_serving(cli: Cli) -> None:
    result = cli.run("stack", "status")
    out = result.stdout
    for service in ("event-store", "projector", "snapshotter", "allocation", "storage"):
        line = next(x for x in out.splitlines() if f" {service} " in x)
        assert "SERVING" in line
        assert "endpoints.json" in line
    for backend in ("postgres", "nats", "s3"):
        assert "UP" in next(x for x in out.splitlines() if f" {backend} " in x)
    assert "projection: position" in out
    assert "All healthy." in out


def test_stack_status_fails_when_a_service_is_down(cli: Cli) -> None:
    result = cli.run("stack", "status", root=["--storage", "127.0.0.1:1"], expect=1)
    assert "storage: UNREACHABLE" in result.output
