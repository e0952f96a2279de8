"""FUNDLEDGER_WORKERS and the worker's own settings: the default follows the usable cores."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fundledger_platform.settings import WorkerSettings, usable_cores


def _affinity() -> int:
    return len(os.sched_getaffinity(0))


def test_usable_cores_without_a_cgroup_quota_is_the_affinity(tmp_path: Path) -> None:
    assert usable_cores(tmp_path) == _affinity()  # no cpu.max at all
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert usable_cores(tmp_path) == _affinity()


@pytest.mark.parametrize(("quota", "expected"), [(50_000, 1), (100_000, 1), (150_000, 2)])
def test_usable_cores_rounds_a_quota_up_within_the_affinity(
    tmp_path: Path, quota: int, expected: int
) -> None:
    (tmp_path / "cpu.max").write_text(f"{quota} 100000\n")
    assert usable_cores(tmp_path) == min(expected, _affinity())


def test_usable_cores_ignores_an_unreadable_quota(tmp_path: Path) -> None:
    (tmp_path / "cpu.max").write_text("garbage\n")
    assert usable_cores(tmp_path) == _affinity()


def test_worker_settings_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WORKERS", "WORKER_INDEX", "WORKER_RUN_DIR", "SUPERVISOR_PID"):
        monkeypatch.delenv(f"FUNDLEDGER_{name}", raising=False)
    plain = WorkerSettings.from_env()
    assert plain == WorkerSettings(count=usable_cores())
    assert plain.leader
    assert not plain.supervised

    monkeypatch.setenv("FUNDLEDGER_WORKERS", "3")
    monkeypatch.setenv("FUNDLEDGER_WORKER_INDEX", "1")
    monkeypatch.setenv("FUNDLEDGER_WORKER_RUN_DIR", "/run/x")
    monkeypatch.setenv("FUNDLEDGER_SUPERVISOR_PID", "42")
    worker = WorkerSettings.from_env()
    assert worker == WorkerSettings(3, 1, Path("/run/x"), 42)
    assert worker.supervised
    assert not worker.leader
    monkeypatch.setenv("FUNDLEDGER_WORKER_INDEX", "0")
    assert WorkerSettings.from_env().leader


@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_a_bad_worker_count_names_the_variable(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("FUNDLEDGER_WORKERS", value)
    with pytest.raises(ValueError, match="FUNDLEDGER_WORKERS"):
        WorkerSettings.from_env()


def test_a_pod_budget_is_shared_by_the_workers_only_under_a_supervisor() -> None:
    assert WorkerSettings(count=4).share(20) == 20  # not supervised: one process, all of it
    assert WorkerSettings(count=2, index=1).share(20) == 10
    assert WorkerSettings(count=3, index=0).share(20) == 7  # rounded up
    assert WorkerSettings(count=8, index=0).share(12, minimum=4) == 4
