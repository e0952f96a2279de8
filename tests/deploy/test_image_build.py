"""The image build: one non-root, HEALTHCHECK-free Dockerfile target per service, .dockerignore."""

from __future__ import annotations

import re

import pytest

from tests.deploy.manifest_support import ROOT, SERVICES

DOCKERFILE = ROOT / "deploy" / "Dockerfile"


# --------------------------------------------------------------------------- image build


def dockerfile_stages() -> dict[str, tuple[str, list[tuple[str, str]]]]:
    """stage name -> (FROM image or parent stage, [(instruction, arguments)])."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    stages: dict[str, tuple[str, list[tuple[str, str]]]] = {}
    current: list[tuple[str, str]] | None = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, rest = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            match = re.fullmatch(r"(\S+)(?:\s+AS\s+(\S+))?", rest.strip(), re.I)
            assert match, line
            current = []
            stages[(match.group(2) or f"stage{len(stages)}").lower()] = (match.group(1), current)
        elif current is not None:
            current.append((instruction, rest.strip()))
    return stages


def stage_chain(stages: dict[str, tuple[str, list[tuple[str, str]]]], name: str) -> list[str]:
    chain = [name]
    while stages[chain[-1]][0].lower() in stages:
        chain.append(stages[chain[-1]][0].lower())
    return chain


@pytest.mark.parametrize("name", list(SERVICES))
def test_image_target_per_service(name: str) -> None:
    module = SERVICES[name][0]
    stages = dockerfile_stages()
    assert module in stages, f"no --target {module}"
    chain = stage_chain(stages, module)
    assert stages[chain[-1]][0] == "${PYTHON_IMAGE}"
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim", DOCKERFILE.read_text(), re.M)
    # The effective USER is the last one set along the stage chain: non-root.
    users = [args for stage in reversed(chain) for ins, args in stages[stage][1] if ins == "USER"]
    assert users, module
    assert users[-1].split(":")[0] not in ("0", "root"), module
    instructions = [ins for stage in chain for ins, _ in stages[stage][1]]
    assert "HEALTHCHECK" not in instructions
    entrypoint = [args for ins, args in stages[module][1] if ins == "ENTRYPOINT"]
    assert entrypoint == [f'["python", "-m", "{module}"]']
    # Installed from the lock by uv, in the build stage the target copies from.
    (copied,) = re.findall(
        r"--from=(\S+)", " ".join(a for i, a in stages[module][1] if i == "COPY")
    )
    build = " ".join(a for stage in stage_chain(stages, copied) for i, a in stages[stage][1])
    assert f"uv sync --frozen --no-dev --package fundledger-{module}" in build
    assert f"services/{name}/migrations" in build  # migrations ship with the sources
    assert "libs/api/src" in build  # the committed generated stubs


def test_no_healthcheck_anywhere_in_the_dockerfile() -> None:
    assert not any(
        ins == "HEALTHCHECK" for _, body in dockerfile_stages().values() for ins, _ in body
    )


def test_dockerignore_keeps_local_state_out() -> None:
    entries = {
        line.strip().rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    required = {".venv", ".tools", ".stack", ".bench", "tests", "services/*/tests"}
    required |= {".mypy_cache", ".ruff_cache", ".pytest_cache", "**/__pycache__"}
    assert required <= entries, sorted(required - entries)
    assert not {"libs", "services", "uv.lock", "pyproject.toml"} & entries
