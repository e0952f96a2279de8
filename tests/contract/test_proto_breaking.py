"""`make test` runs `buf breaking` against the newest released contract (scripts/buf_breaking.sh),
a buf image kept in releases/protos/.

These tests prove the check can fail: a copy of protos/ with a field removed, renumbered or
retyped is refused against the same image, and today's protos pass.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUF = ROOT / ".venv" / "bin" / "buf"
EVENTS = Path("fundledger/eventstore/v1/events.proto")


def last_release() -> Path:
    images = sorted(
        (ROOT / "releases" / "protos").glob("v*.binpb"),
        key=lambda p: tuple(int(part) for part in p.stem[1:].split(".")),
    )
    assert images, "no released contract: scripts/buf_breaking.sh would fail too"
    return images[-1]


def breaking(protos: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BUF), "breaking", str(protos), "--against", str(last_release())],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_todays_protos_do_not_break_the_last_release() -> None:
    result = breaking(ROOT / "protos")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("old", "new", "complaint"),
    [
        ("  string correlation_id = 7;\n", "", 'field "7" with name "correlation_id"'),
        ("  string source = 9;\n", "  string source = 19;\n", 'field "9" with name "source"'),
        ("  bytes data = 4;\n", "  string data = 4;\n", 'changed type from "bytes"'),
    ],
)
def test_a_break_is_refused(tmp_path: Path, old: str, new: str, complaint: str) -> None:
    copy = tmp_path / "protos"
    shutil.copytree(ROOT / "protos", copy)
    path = copy / EVENTS
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    result = breaking(copy)
    assert result.returncode != 0
    assert complaint in result.stdout + result.stderr
