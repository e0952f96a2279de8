"""Settings: defaults, overrides, and the bounds that refuse a setting at start-up."""

from __future__ import annotations

import os

import pytest
from fundledger_platform.db import IDLE_IN_TRANSACTION_TIMEOUT_MS
from fundledger_platform.eventstore_client import append_worst_seconds
from storage.bootstrap import EVENTSTORE_APPEND_RETRY_SECONDS, EVENTSTORE_TIMEOUT_SECONDS
from storage.config import MIB, Settings


def test_settings_defaults_and_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("FUNDLEDGER_"):
            monkeypatch.delenv(name)
    defaults = Settings.from_env()
    assert (defaults.server.grpc_port, defaults.server.metrics_port) == (50055, 9105)
    assert defaults.eventstore_address == "127.0.0.1:50051"
    assert defaults.s3.endpoint == "http://127.0.0.1:8333"
    assert (defaults.s3.region, defaults.s3.bucket) == ("us-east-1", "fundledger-files")
    assert (defaults.s3.access_key, defaults.s3.secret_key) == ("fundledger", "fundledger-secret")
    assert defaults.s3.path_style is True
    assert (defaults.max_file_bytes, defaults.part_bytes) == (100 * MIB, 8 * MIB)
    assert defaults.chunk_bytes == 256 * 1024
    assert "fundledger-secret" not in repr(defaults)

    monkeypatch.setenv("FUNDLEDGER_S3_PATH_STYLE", "false")
    monkeypatch.setenv("FUNDLEDGER_STORAGE_PART_BYTES", str(16 * MIB))
    changed = Settings.from_env()
    assert changed.s3.path_style is False
    assert changed.part_bytes == 16 * MIB

    monkeypatch.setenv("FUNDLEDGER_STORAGE_PART_BYTES", str(MIB))  # under S3's 5 MiB minimum
    with pytest.raises(ValueError, match="FUNDLEDGER_STORAGE_PART_BYTES"):
        Settings.from_env()
    monkeypatch.setenv("FUNDLEDGER_STORAGE_PART_BYTES", str(5 * MIB))
    monkeypatch.setenv("FUNDLEDGER_STORAGE_MAX_FILE_BYTES", str(10_001 * 5 * MIB))
    with pytest.raises(ValueError, match="FUNDLEDGER_STORAGE_MAX_FILE_BYTES"):
        Settings.from_env()
    monkeypatch.delenv("FUNDLEDGER_STORAGE_MAX_FILE_BYTES")
    monkeypatch.setenv("FUNDLEDGER_STORAGE_CHUNK_BYTES", str(8 * MIB))  # over a gRPC message
    with pytest.raises(ValueError, match="FUNDLEDGER_STORAGE_CHUNK_BYTES"):
        Settings.from_env()


def test_the_append_and_its_retries_end_inside_the_transaction_limit() -> None:
    # The upload keeps its transaction open across FILE_ATTACHED and the client's retries
    # of it; PostgreSQL would end the session before a slow last attempt otherwise.
    worst = append_worst_seconds(EVENTSTORE_TIMEOUT_SECONDS, EVENTSTORE_APPEND_RETRY_SECONDS)
    assert worst < IDLE_IN_TRANSACTION_TIMEOUT_MS / 1000
