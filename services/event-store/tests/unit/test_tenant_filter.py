"""The one tenant predicate of the log's read queries (adapters/tenant_filter.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from eventstore.adapters.tenant_filter import scoped
from fundledger_platform.auth.principal import Principal, PrincipalKind, acting_as
from fundledger_platform.errors import PermissionDenied

QUERY = "SELECT 1 FROM eventstore.events WHERE stream_id = $1 AND {tenant}"
LATER = datetime.now(UTC) + timedelta(hours=1)


def principal(kind: PrincipalKind, tenant: str | None) -> Principal:
    return Principal("https://issuer", "ann", kind, LATER, tenant=tenant)


def test_a_person_is_bound_to_their_tenant() -> None:
    with acting_as(principal(PrincipalKind.PERSON, "acme")):
        assert scoped(QUERY, "fund-1") == (
            "SELECT 1 FROM eventstore.events WHERE stream_id = $1 AND tenant = $2",
            ["fund-1", "acme"],
        )


def test_a_service_or_no_authentication_sees_every_tenant() -> None:
    unfiltered = ("SELECT 1 FROM eventstore.events WHERE stream_id = $1 AND TRUE", ["fund-1"])
    with acting_as(principal(PrincipalKind.SERVICE, None)):
        assert scoped(QUERY, "fund-1") == unfiltered
    assert scoped(QUERY, "fund-1") == unfiltered


def test_a_person_without_a_tenant_is_refused() -> None:
    with acting_as(principal(PrincipalKind.PERSON, None)), pytest.raises(PermissionDenied):
        scoped(QUERY, "fund-1")


def test_a_query_without_the_marker_is_a_bug() -> None:
    with pytest.raises(ValueError, match="tenant"):
        scoped("SELECT 1 FROM eventstore.events", "x")
