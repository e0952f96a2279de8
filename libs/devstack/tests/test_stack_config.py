"""StackConfig.from_env: defaults, 0 = any free port, refusals with the knob to turn."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from fundledger_devstack.errors import DevstackError
from fundledger_devstack.services import SERVICES, Backends, ServiceSpec, service_environment
from fundledger_devstack.stack_config import StackConfig


def test_defaults_are_the_documented_ports() -> None:
    config = StackConfig.from_env({})
    assert config.stack_dir == Path(".stack").absolute()
    assert (config.pg_port, config.nats_port, config.nats_monitor_port, config.s3_port) == (
        55432,
        4222,
        8222,
        8333,
    )
    event_store = next(s for s in SERVICES if s.name == "event-store")
    assert (config.grpc_port(event_store), config.metrics_port(event_store)) == (50051, 9101)


def test_zero_means_any_free_port_and_overrides_apply(tmp_path: Path) -> None:
    spec = ServiceSpec("event-store", "eventstore", 50051, 9101)
    environ = {
        "FUNDLEDGER_STACK_DIR": str(tmp_path),
        "FUNDLEDGER_STACK_PG_PORT": "0",
        "FUNDLEDGER_STACK_NATS_PORT": "0",
        "FUNDLEDGER_STACK_NATS_MONITOR_PORT": "0",
        "FUNDLEDGER_STACK_S3_PORT": "0",
        "FUNDLEDGER_STACK_EVENT_STORE_PORT": "0",
        "FUNDLEDGER_STACK_EVENT_STORE_METRICS_PORT": "0",
    }
    config = StackConfig.from_env(environ, services=(spec,))
    assert config.stack_dir == tmp_path
    assert 0 not in config.ports.values()
    assert len(set(config.ports.values())) == len(config.ports)
    config.check_ports()


def test_refuses_a_taken_port_naming_its_variable(tmp_path: Path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        taken = listener.getsockname()[1]
        environ = {"FUNDLEDGER_STACK_NATS_PORT": str(taken), "FUNDLEDGER_STACK_PG_PORT": "0"}
        config = StackConfig.from_env(environ, services=())
        with pytest.raises(DevstackError, match=f"{taken} \\(FUNDLEDGER_STACK_NATS_PORT\\)"):
            config.check_ports()


@pytest.mark.parametrize("value", ["abc", "70000", "-1"])
def test_rejects_a_bad_port_value(value: str) -> None:
    with pytest.raises(DevstackError, match="FUNDLEDGER_STACK_S3_PORT"):
        StackConfig.from_env({"FUNDLEDGER_STACK_S3_PORT": value})


def test_workers_default_to_the_services_own_and_test_stacks_pin_one(tmp_path: Path) -> None:
    # `make run`: unset, so each service runs its default (one worker per usable core).
    assert StackConfig.from_env({}).workers is None
    assert StackConfig.from_env({"FUNDLEDGER_STACK_WORKERS": "3"}).workers == 3
    assert StackConfig.on_free_ports(tmp_path).workers == 1
    assert StackConfig.on_free_ports(tmp_path, workers=None).workers is None


@pytest.mark.parametrize("value", ["0", "-2", "many"])
def test_rejects_a_bad_worker_count(value: str) -> None:
    with pytest.raises(DevstackError, match="FUNDLEDGER_STACK_WORKERS"):
        StackConfig.from_env({"FUNDLEDGER_STACK_WORKERS": value})


def test_the_worker_count_reaches_the_service_environment() -> None:
    pinned = service_environment(Backends(), 1, 2, base={"FUNDLEDGER_WORKERS": "4"}, workers=1)
    assert pinned["FUNDLEDGER_WORKERS"] == "1"
    inherited = service_environment(Backends(), 1, 2, base={"FUNDLEDGER_WORKERS": "4"})
    assert inherited["FUNDLEDGER_WORKERS"] == "4"
    assert "FUNDLEDGER_WORKERS" not in service_environment(Backends(), 1, 2, base={})
