"""`python -m fundledger_devstack run` as a user runs it: a real process, real servers.

The service is tests/fake_grpc_service.py (a stand-in for a FundLedger service), so the
runner is tested while the real services are still being written.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fundledger_devstack.health import check_health
from fundledger_devstack.ports import port_is_free

TESTS_DIR = Path(__file__).resolve().parent
FAKE = ["--service", "fake=fake_grpc_service"]


def stack_env(stack_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNDLEDGER_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS_DIR), env.get("PYTHONPATH")]))
    env["FUNDLEDGER_STACK_DIR"] = str(stack_dir)
    for name in ("PG", "NATS", "NATS_MONITOR", "S3"):
        env[f"FUNDLEDGER_STACK_{name}_PORT"] = "0"
    # The fake service serves plaintext gRPC without authentication.
    env["FUNDLEDGER_STACK_SECURE"] = "false"
    env.update(extra)
    return env


class RunningStack:
    def __init__(self, stack_dir: Path, args: list[str], env: dict[str, str]) -> None:
        self.stack_dir = stack_dir
        self.output = stack_dir.with_suffix(".out")
        stack_dir.parent.mkdir(parents=True, exist_ok=True)
        with self.output.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "fundledger_devstack", *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )

    def text(self) -> str:
        return self.output.read_text()

    def wait_ready(self, timeout: float = 60) -> dict[str, str]:
        path = self.stack_dir / "endpoints.json"
        deadline = time.monotonic() + timeout
        while not path.exists():
            assert self.proc.poll() is None, f"stack exited early:\n{self.text()}"
            assert time.monotonic() < deadline, f"stack not ready:\n{self.text()}"
            time.sleep(0.1)
        endpoints: dict[str, str] = json.loads(path.read_text())
        return endpoints

    def finish(self, timeout: float = 60) -> int:
        return self.proc.wait(timeout)


@pytest.fixture
def start_stack(tmp_path: Path) -> Iterator[Callable[..., RunningStack]]:
    """Start runners; any still running at the end is stopped (then killed)."""
    started: list[RunningStack] = []

    def start(name: str, *args: str, **env: str) -> RunningStack:
        stack = RunningStack(tmp_path / name, list(args), stack_env(tmp_path / name, **env))
        started.append(stack)
        return stack

    yield start
    for stack in started:
        if stack.proc.poll() is None:
            stack.proc.send_signal(signal.SIGTERM)
            try:
                stack.proc.wait(60)
            except subprocess.TimeoutExpired:
                stack.proc.kill()


def _ports(endpoints: dict[str, str]) -> list[int]:
    ports = []
    for value in endpoints.values():
        url = urlsplit(value if "://" in value else f"tcp://{value}")
        assert url.port is not None
        ports.append(url.port)
    return ports


def test_two_stacks_run_side_by_side_and_stop_cleanly_on_sigterm(
    start_stack: Callable[..., RunningStack],
) -> None:
    # Started together, so their servers come up at the same time on distinct ports.
    stacks = [start_stack(name, "run", *FAKE) for name in ("a", "b")]
    endpoints = [stack.wait_ready() for stack in stacks]

    for entries in endpoints:
        assert set(entries) == {"fake", "postgres", "nats", "s3"}
        assert entries["postgres"].startswith("postgresql://postgres@127.0.0.1:")
        assert entries["postgres"].endswith("/fundledger")
        assert entries["nats"].startswith("nats://127.0.0.1:")
        assert entries["s3"].startswith("http://127.0.0.1:")
        assert check_health(entries["fake"]) == "SERVING"
    assert not set(_ports(endpoints[0])) & set(_ports(endpoints[1]))

    status = subprocess.run(
        [sys.executable, "-m", "fundledger_devstack", "status"],
        env=stack_env(stacks[0].stack_dir),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert status.returncode == 0, status.stdout + status.stderr
    assert "SERVING" in status.stdout

    for stack in stacks:
        stack.proc.send_signal(signal.SIGTERM)
    for stack, entries in zip(stacks, endpoints, strict=True):
        assert stack.finish() == 0, stack.text()
        assert "Stack stopped." in stack.text()
        assert not (stack.stack_dir / "endpoints.json").exists()
        assert "graceful shutdown complete" in (stack.stack_dir / "fake.log").read_text()
        assert all(port_is_free(port) for port in _ports(entries))
        assert not (stack.stack_dir / "postgres" / "postmaster.pid").exists()


def test_exit_after_ready_prints_the_endpoints_and_stops(
    start_stack: Callable[..., RunningStack],
) -> None:
    stack = start_stack("once", "run", "--exit-after-ready", *FAKE)
    assert stack.finish() == 0, stack.text()
    out = stack.text()
    assert "Ready:" in out
    for entry in ("fake", "postgresql://", "nats://", "http://127.0.0.1:"):
        assert entry in out
    assert "Stack stopped." in out
    # The summary says where the passwords are, never what they are.
    kept = sorted((stack.stack_dir / "credentials").iterdir())
    assert kept
    assert not any(path.read_text().strip() in out for path in kept)
    # A second run reuses the state kept in the stack dir, passwords included.
    before = {path.name: path.read_text() for path in kept}
    again = start_stack("once", "run", "--exit-after-ready", *FAKE)
    assert again.finish() == 0, again.text()
    assert {path.name: path.read_text() for path in kept} == before


@pytest.mark.parametrize("step", ["migrate", "start"])
def test_a_failing_service_stops_everything_and_exits_non_zero(
    start_stack: Callable[..., RunningStack], step: str
) -> None:
    stack = start_stack(f"fail-{step}", "run", *FAKE, FAKE_SERVICE_FAIL=step)
    assert stack.finish() != 0
    out = stack.text()
    assert f"fake {step} failure" in out.replace("migration", "migrate")  # the log tail
    assert not (stack.stack_dir / "postgres" / "postmaster.pid").exists()
    assert not (stack.stack_dir / "endpoints.json").exists()


def test_refuses_to_start_on_a_taken_port(start_stack: Callable[..., RunningStack]) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        taken = str(listener.getsockname()[1])
        stack = start_stack("taken", "run", *FAKE, FUNDLEDGER_STACK_NATS_PORT=taken)
        assert stack.finish(30) == 1
    assert "FUNDLEDGER_STACK_NATS_PORT" in stack.text()
    assert not (stack.stack_dir / "postgres").exists()
