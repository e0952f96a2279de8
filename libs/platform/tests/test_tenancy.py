"""The tenancy rule (fundledger_platform.auth.tenancy) for each kind of caller."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fundledger_platform.auth.principal import Principal, PrincipalKind, acting_as
from fundledger_platform.auth.tenancy import (
    calling_user,
    may_act_for,
    require_self_or_act_for,
    tenant_of_new,
    tenant_scope,
    visible,
)
from fundledger_platform.errors import PermissionDenied
from fundledger_platform.reasons import Reason
from prometheus_client import REGISTRY

LATER = datetime.now(UTC) + timedelta(hours=1)


def person(subject: str = "alice", tenant: str | None = "acme") -> Principal:
    return Principal("https://idp", subject, PrincipalKind.PERSON, LATER, tenant=tenant)


def service(subject: str = "fundledger-projector") -> Principal:
    return Principal("https://k8s", subject, PrincipalKind.SERVICE, LATER)


def test_without_authentication_everything_is_visible() -> None:
    assert tenant_scope() is None
    assert all(visible(owner) for owner in ("acme", None, ""))
    assert tenant_of_new() is None
    assert calling_user() is None
    assert may_act_for("anyone")
    require_self_or_act_for("anyone")


def test_a_person_sees_only_their_tenant() -> None:
    with acting_as(person(tenant="acme")):
        assert tenant_scope() == "acme"
        assert tenant_of_new() == "acme"
        assert visible("acme")
        assert not visible("globex")
        # Recorded without a tenant (before authentication was on) is nobody's.
        assert not visible(None)
        assert not visible("")


def test_a_person_acting_through_a_service_keeps_their_tenant() -> None:
    acting = Principal(
        "https://idp", "alice", PrincipalKind.PERSON, LATER, tenant="acme", actor="svc-storage"
    )
    with acting_as(acting):
        assert tenant_scope() == "acme"
        assert calling_user() == "alice"
        assert not visible("globex")


def _tenant_missing_denials() -> float:
    labels = {"service": "unknown", "method": "unknown", "reason": "TENANT_MISSING"}
    return REGISTRY.get_sample_value("fundledger_auth_denied_total", labels) or 0.0


def test_a_person_without_a_tenant_is_refused_and_counted() -> None:
    before = _tenant_missing_denials()
    with acting_as(person(tenant=None)), pytest.raises(PermissionDenied) as refused:
        tenant_scope()
    assert refused.value.reason is Reason.TENANT_MISSING
    assert _tenant_missing_denials() == before + 1
    with acting_as(person(tenant="")), pytest.raises(PermissionDenied):
        visible("acme")


def test_a_service_for_itself_is_not_bound_to_a_tenant() -> None:
    with acting_as(service()):
        assert tenant_scope() is None
        assert all(visible(owner) for owner in ("acme", "globex", None))
        assert calling_user() is None
        assert may_act_for("alice")


def test_a_person_names_themselves() -> None:
    with acting_as(person("alice")):
        assert calling_user() == "alice"
        assert may_act_for("alice")
        require_self_or_act_for("alice")
