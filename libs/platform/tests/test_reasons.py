"""The error-reason registry: documented, named for conditions, and the only source of reasons."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import grpc
import pytest
from fundledger_platform.errors import InvalidArgument
from fundledger_platform.reasons import REGISTRY, Reason

ROOT = Path(__file__).resolve().parents[3]
SOURCES = [*ROOT.glob("libs/*/src"), *ROOT.glob("services/*/src")]


def test_every_reason_is_documented_once_with_its_code() -> None:
    assert set(REGISTRY) == set(Reason)
    rows = re.findall(
        r"^\| `([A-Z0-9_]+)` \| ([A-Z_]+) \|", (ROOT / "docs/errors.md").read_text(), re.M
    )
    assert len(rows) == len({name for name, _ in rows}), "a reason is listed twice"
    assert dict(rows) == {r.value: doc.code.name for r, doc in REGISTRY.items()}


def test_no_reason_is_a_status_code_name() -> None:
    codes = {code.name for code in grpc.StatusCode}
    assert not codes & {r.value for r in Reason}


def test_an_unregistered_reason_is_refused() -> None:
    with pytest.raises(ValueError, match="NOT_A_REASON"):
        InvalidArgument("x", reason="NOT_A_REASON")  # type: ignore[arg-type]


def _literal_reasons(path: Path) -> list[str]:
    """`reason=` keyword arguments given as a literal instead of a Reason member."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Call):
            continue
        for keyword in node.keywords:
            value = keyword.value
            if keyword.arg == "reason" and isinstance(value, ast.Constant):
                found.append(f"{path}:{node.lineno}: reason={value.value!r}")
    return found


def test_code_raises_registered_reasons_only() -> None:
    """Reasons are passed as Reason members, never as strings that could drift from the
    registry (mypy checks the type; this catches what a cast or an Any would let through)."""
    offenders = [
        hit
        for source in SOURCES
        for path in source.rglob("*.py")
        if "_pb2" not in path.name
        for hit in _literal_reasons(path)
    ]
    assert offenders == []
