"""The least-privilege table and the files the stack writes from it (no servers needed; the
real refusals are in tests/contract/test_least_privilege_*.py)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from fundledger_devstack.access import ACCESS, BUS_STREAM, BUS_SUBJECT_PREFIX, TOOL_USERS
from fundledger_devstack.credentials import StackCredentials
from fundledger_devstack.nats_auth import with_credentials, write_config
from fundledger_devstack.services import Backends, service_environment
from fundledger_platform.settings import DEFAULT_BUS_STREAM, DEFAULT_BUS_SUBJECT_PREFIX


def test_the_bus_names_match_the_services_defaults() -> None:
    assert (BUS_STREAM, BUS_SUBJECT_PREFIX) == (DEFAULT_BUS_STREAM, DEFAULT_BUS_SUBJECT_PREFIX)


def test_passwords_are_made_once_and_readable_by_us_only(tmp_path: Path) -> None:
    credentials = StackCredentials(tmp_path)
    first = credentials.password("nats-projector")
    assert credentials.password("nats-projector") == first
    assert StackCredentials(tmp_path).password("nats-projector") == first
    assert credentials.password("nats-snapshotter") != first
    assert stat.S_IMODE(credentials.dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(credentials.path("nats-projector").stat().st_mode) == 0o600


def test_only_the_event_store_publishes_events_and_consumers_stay_on_their_own_durable(
    tmp_path: Path,
) -> None:
    grants = [a.bus for a in ACCESS.values() if a.bus is not None] + list(TOOL_USERS)
    path = write_config(tmp_path / "nats.conf", grants, StackCredentials(tmp_path))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    users = {u["user"]: u for u in json.loads(path.read_text())["authorization"]["users"]}
    assert set(users) == {"event_store", "projector", "snapshotter", "cli"}
    for name, user in users.items():
        publish = user["permissions"]["publish"]["allow"]
        subscribe = user["permissions"]["subscribe"]["allow"]
        assert (f"{BUS_SUBJECT_PREFIX}.>" in publish) == (name == "event_store"), name
        assert ("fundledger.anchors" in publish) == (name == "event_store"), name
        assert subscribe == [f"_INBOX_{name}.>"], name
        assert not any(subject in ("$JS.API.>", ">", "*") for subject in publish), name
        if name in ("projector", "snapshotter"):
            other = {"projector": "snapshotter", "snapshotter": "projector"}[name]
            assert all(f".{name}" in subject for subject in publish), publish
            assert not any(f".{other}" in subject for subject in publish), publish


def test_a_service_gets_only_the_settings_it_was_granted() -> None:
    shell = {
        "FUNDLEDGER_S3_SECRET_KEY": "from-the-shell",
        "FUNDLEDGER_NATS_URL": "nats://somewhere:4222",
        "FUNDLEDGER_DATABASE_URL": "postgresql://postgres@db/fundledger",
    }
    env = service_environment(Backends(eventstore_address="127.0.0.1:1"), 1, 2, base=shell)
    assert not any(var in env for var in shell)
    granted = Backends(database_url="postgresql://a:b@h:1/d", nats_url="nats://u:p@h:2")
    env = service_environment(granted, 1, 2, base=shell)
    assert env["FUNDLEDGER_DATABASE_URL"] == granted.database_url
    assert "FUNDLEDGER_S3_SECRET_KEY" not in env


def test_only_storage_is_granted_s3_and_allocation_nothing() -> None:
    assert [a.service for a in ACCESS.values() if a.s3] == ["storage"]
    allocation = ACCESS["allocation"]
    assert (allocation.schema, allocation.bus, allocation.s3) == (None, None, False)


def test_credentials_go_into_the_url() -> None:
    assert with_credentials("nats://127.0.0.1:4222", "u", "p") == "nats://u:p@127.0.0.1:4222"
