"""Which stack `make loadtest` drives: a target's endpoints.json, host settings, or both."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.load.run import stack_endpoints
from tests.load.settings import LoadSettings

SERVICES = ("event-store", "projector", "snapshotter", "allocation", "storage")


def test_host_settings_alone_name_the_stack() -> None:
    hosts = tuple((name, f"{name}.fl.svc:50051") for name in SERVICES)
    with stack_endpoints(LoadSettings(hosts=hosts)) as target:
        assert target.endpoints == dict(hosts)
        assert target.stack_dir is None  # no CA known: plaintext


def test_host_settings_replace_the_targets_entries(tmp_path: Path) -> None:
    target = tmp_path / "endpoints.json"
    target.write_text(
        json.dumps({name: f"127.0.0.1:{5000 + i}" for i, name in enumerate(SERVICES)})
    )
    settings = LoadSettings(target=tmp_path, hosts=(("projector", "other:7"),))
    with stack_endpoints(settings) as found:
        assert found.endpoints["projector"] == "other:7"
        assert found.endpoints["event-store"] == "127.0.0.1:5000"
        assert found.stack_dir == tmp_path.absolute()  # its CA and dev issuer, if secure


def test_a_service_without_an_address_is_refused() -> None:
    with (
        pytest.raises(ValueError, match="snapshotter, allocation, storage"),
        stack_endpoints(LoadSettings(hosts=(("event-store", "a:1"), ("projector", "b:2")))),
    ):
        pass
