"""Settings from FUNDLEDGER_* variables (no servers)."""

from __future__ import annotations

import pytest
from snapshotter.config import Settings


def test_settings_defaults_and_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "GRPC_PORT",
        "METRICS_PORT",
        "EVENTSTORE_ADDRESS",
        "BUS_STREAM",
        "BUS_SUBJECT_PREFIX",
        "SNAPSHOTTER_DURABLE",
        "SNAPSHOT_EVERY_EVENTS",
        "SNAPSHOT_DAILY_UTC_TIME",
        "SNAPSHOTTER_CATCHUP_SECONDS",
    ):
        monkeypatch.delenv(f"FUNDLEDGER_{name}", raising=False)
    defaults = Settings.from_env()
    assert (defaults.server.grpc_port, defaults.server.metrics_port) == (50053, 9103)
    assert defaults.eventstore_address == "127.0.0.1:50051"
    assert (defaults.bus_stream, defaults.bus_subject_prefix) == (
        "FUNDLEDGER_EVENTS",
        "fundledger.events",
    )
    assert defaults.durable == "snapshotter"
    assert defaults.snapshot_every_events == 50
    assert defaults.daily_utc_time.isoformat() == "00:00:00"

    monkeypatch.setenv("FUNDLEDGER_SNAPSHOT_DAILY_UTC_TIME", "23:30")
    monkeypatch.setenv("FUNDLEDGER_SNAPSHOT_EVERY_EVENTS", "7")
    changed = Settings.from_env()
    assert changed.daily_utc_time.isoformat() == "23:30:00"
    assert changed.snapshot_every_events == 7

    monkeypatch.setenv("FUNDLEDGER_SNAPSHOT_DAILY_UTC_TIME", "midnight")
    with pytest.raises(ValueError, match="FUNDLEDGER_SNAPSHOT_DAILY_UTC_TIME"):
        Settings.from_env()
