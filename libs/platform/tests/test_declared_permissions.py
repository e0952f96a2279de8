"""Deny by default, proven on the contract: every RPC of every service declares its permission,
and the default policy gives each one to someone."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import fundledger
from fundledger_platform.auth.authorization import declared_permission
from fundledger_platform.auth.policy import Policy, parse_permission
from google.protobuf import descriptor_pool

ROOT = Path(__file__).resolve().parents[3]

# Only the administrator may do these (the "admin" operations).
ADMIN_ONLY = {"projections.rebuild", "snapshots.create", "files.verify"}
# Only services (and the administrator): following the whole log live.
SERVICES_ONLY = {"events.subscribe"}


def every_rpc() -> list[str]:
    """`/pkg.Service/Method` of every RPC in the generated code (libs/api)."""
    for module in pkgutil.walk_packages(fundledger.__path__, "fundledger."):
        if module.name.endswith("_pb2"):
            importlib.import_module(module.name)
    pool = descriptor_pool.Default()
    methods = []
    for module in pkgutil.walk_packages(fundledger.__path__, "fundledger."):
        if not module.name.endswith("_pb2"):
            continue
        file = pool.FindFileByName(importlib.import_module(module.name).DESCRIPTOR.name)
        for service in file.services_by_name.values():
            methods += [f"/{service.full_name}/{method.name}" for method in service.methods]
    return methods


def test_every_rpc_declares_a_permission() -> None:
    rpcs = every_rpc()
    services = {rpc.split("/")[1] for rpc in rpcs}
    assert len(services) == 5, services  # the walk found the five services
    undeclared = [rpc for rpc in rpcs if declared_permission(rpc) is None]
    assert undeclared == [], "RPCs without `option (fundledger.auth.v1.requires)`"


def test_declared_permissions_are_unscoped_names() -> None:
    """The contract names the permission; the scope (a stream category) depends on the request
    and is checked by the service."""
    for rpc in every_rpc():
        permission = declared_permission(rpc)
        assert permission is not None
        assert parse_permission(permission) == (permission, None), rpc


def test_an_unknown_method_declares_nothing() -> None:
    assert declared_permission("/fundledger.nothing.v1.Nothing/Call") is None
    assert declared_permission("/grpc.health.v1.Health/Check") is None
    assert declared_permission("garbage") is None


def test_the_default_policy_gives_every_permission_to_a_role() -> None:
    policy = Policy.load(ROOT / "deploy" / "policy.yaml")
    declared = {declared_permission(rpc) for rpc in every_rpc()}
    people = ("fund-viewer", "fund-manager", "analyst")
    for permission in sorted(p for p in declared if p is not None):
        assert policy.allows({"admin"}, permission), permission
        holders = [role for role in policy.roles if policy.allows({role}, permission)]
        if permission in ADMIN_ONLY:
            assert holders == ["admin"], permission
        elif permission in SERVICES_ONLY:
            assert all(role == "admin" or role.startswith("svc-") for role in holders)
            assert len(holders) > 1, permission
        else:
            assert any(role in holders for role in people), f"no person holds {permission}"


def test_the_default_roles_do_their_jobs_and_no_more() -> None:
    policy = Policy.load(ROOT / "deploy" / "policy.yaml")
    assert policy.allows({"fund-viewer"}, "events.read:fund")
    assert not policy.allows({"fund-viewer"}, "events.append:fund")
    assert not policy.allows({"fund-viewer"}, "reallocation.commit")
    assert policy.allows({"fund-manager"}, "events.append:fund")
    # Storage appends FILE_ATTACHED to file- streams with the uploading person's permissions.
    assert policy.allows({"fund-manager"}, "events.append:file")
    assert not policy.allows({"fund-manager"}, "events.append:user")
    assert not policy.allows({"fund-manager"}, "analytics.read")
    assert policy.allows({"analyst"}, "analytics.read")
    for service in ("svc-projector", "svc-snapshotter"):
        assert policy.allows({service}, "events.read:*")
        assert policy.allows({service}, "events.subscribe:fund")
        assert not policy.allows({service}, "events.append")
    assert policy.allows({"svc-allocation"}, "events.append:fund")
    assert not policy.allows({"svc-allocation"}, "events.read:file")
    assert policy.allows({"svc-storage"}, "events.append:file")
    assert not policy.allows({"svc-storage"}, "events.read")
