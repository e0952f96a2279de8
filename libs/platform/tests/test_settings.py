"""Settings from FUNDLEDGER_* variables: defaults, parsing, clear errors."""

from __future__ import annotations

import pytest
from fundledger_platform.settings import (
    ServerSettings,
    WorkerSettings,
    env_bool,
    env_float,
    env_int,
    env_str,
    primary_only,
    usable_cores,
)


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "GRPC_HOST",
        "GRPC_PORT",
        "METRICS_PORT",
        "LOG_LEVEL",
        "OTLP_ENDPOINT",
        "SHUTDOWN_GRACE_SECONDS",
        "WORKERS",
        "WORKER_INDEX",
    ):
        monkeypatch.delenv(f"FUNDLEDGER_{name}", raising=False)
    settings = ServerSettings.from_env("allocation", 50054, 9104)
    assert settings == ServerSettings(
        service_name="allocation",
        grpc_host="127.0.0.1",
        grpc_port=50054,
        metrics_port=9104,
        log_level="INFO",
        otlp_endpoint=None,
        shutdown_grace_seconds=10.0,
        # One worker per usable core, none of them this process (it is not supervised).
        worker=WorkerSettings(count=usable_cores()),
    )


def test_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FUNDLEDGER_GRPC_HOST", "0.0.0.0")
    monkeypatch.setenv("FUNDLEDGER_GRPC_PORT", "0")
    monkeypatch.setenv("FUNDLEDGER_METRICS_PORT", "-1")
    monkeypatch.setenv("FUNDLEDGER_LOG_LEVEL", "debug")
    monkeypatch.setenv("FUNDLEDGER_OTLP_ENDPOINT", "http://collector:4317")
    monkeypatch.setenv("FUNDLEDGER_SHUTDOWN_GRACE_SECONDS", "2.5")
    settings = ServerSettings.from_env("allocation", 50054, 9104)
    assert settings.grpc_host == "0.0.0.0"
    assert settings.grpc_port == 0
    assert settings.metrics_port == -1
    assert settings.log_level == "DEBUG"
    assert settings.otlp_endpoint == "http://collector:4317"
    assert settings.shutdown_grace_seconds == 2.5


def test_settings_are_frozen() -> None:
    settings = ServerSettings("a", "h", 1, 2, "INFO", None, 1.0)
    with pytest.raises(AttributeError):
        settings.grpc_port = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("FUNDLEDGER_GRPC_PORT", "fifty", "FUNDLEDGER_GRPC_PORT='fifty' is not an integer"),
        ("FUNDLEDGER_GRPC_PORT", "70000", "FUNDLEDGER_GRPC_PORT=70000 is above"),
        ("FUNDLEDGER_METRICS_PORT", "-2", "FUNDLEDGER_METRICS_PORT=-2 is below"),
        ("FUNDLEDGER_SHUTDOWN_GRACE_SECONDS", "soon", "FUNDLEDGER_SHUTDOWN_GRACE_SECONDS='soon'"),
        ("FUNDLEDGER_SHUTDOWN_GRACE_SECONDS", "nan", "not a finite number"),
        ("FUNDLEDGER_LOG_LEVEL", "LOUD", "FUNDLEDGER_LOG_LEVEL='LOUD'"),
    ],
)
def test_bad_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        ServerSettings.from_env("allocation", 50054, 9104)


def test_typed_readers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FUNDLEDGER_X_STR", " text ")
    monkeypatch.setenv("FUNDLEDGER_X_INT", "42")
    monkeypatch.setenv("FUNDLEDGER_X_FLOAT", "0.25")
    monkeypatch.setenv("FUNDLEDGER_X_BLANK", "   ")
    assert env_str("X_STR", "d") == "text"
    assert env_str("x_missing", "d") == "d"
    assert env_str("X_BLANK", "d") == "d"  # blank = unset
    assert env_int("X_INT", 1) == 42
    assert env_int("X_BLANK", 7) == 7
    assert env_float("X_FLOAT", 1.0) == 0.25
    assert env_float("X_INT", 1.0) == 42.0
    assert env_str("FUNDLEDGER_X_STR", "d") == "text"  # the prefix is not doubled


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", True), ("true", True), ("YES", True), ("on", True), ("0", False), ("False", False)],
)
def test_env_bool(monkeypatch: pytest.MonkeyPatch, value: str, expected: bool) -> None:
    monkeypatch.setenv("FUNDLEDGER_X_FLAG", value)
    assert env_bool("X_FLAG", not expected) is expected


def test_env_bool_refuses_other_words(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FUNDLEDGER_X_FLAG", "maybe")
    with pytest.raises(ValueError, match="FUNDLEDGER_X_FLAG='maybe' is not a boolean"):
        env_bool("X_FLAG", False)


@pytest.mark.parametrize(
    ("given", "used"),
    [
        # One host: as given (a read-write service in front already names the primary).
        ("postgresql://app@db-rw:5432/fundledger", "postgresql://app@db-rw:5432/fundledger"),
        (
            "postgresql://app:s3cret@a:5432,b:5433/fundledger?sslmode=require",
            "postgresql://app:s3cret@a:5432,b:5433/fundledger"
            "?sslmode=require&target_session_attrs=read-write",
        ),
        (
            "postgresql://a,b/fundledger",
            "postgresql://a,b/fundledger?target_session_attrs=read-write",
        ),
        # The operator's own choice stands.
        (
            "postgresql://a,b/fundledger?target_session_attrs=any",
            "postgresql://a,b/fundledger?target_session_attrs=any",
        ),
    ],
)
def test_a_url_of_several_hosts_connects_to_the_primary(given: str, used: str) -> None:
    assert primary_only(given) == used
