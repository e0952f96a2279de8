"""The tenant predicate of read queries (fundledger_platform.tenant_sql) for each kind of caller."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fundledger_platform.auth.principal import Principal, PrincipalKind, acting_as
from fundledger_platform.errors import PermissionDenied
from fundledger_platform.tenant_sql import narrowed, scoped

LATER = datetime.now(UTC) + timedelta(hours=1)
QUERY = "SELECT 1 FROM t WHERE fund_id > $1 AND {tenant} LIMIT $2"


def test_a_caller_bound_to_no_tenant_sees_every_row() -> None:
    assert scoped(QUERY, "f", 10) == (
        "SELECT 1 FROM t WHERE fund_id > $1 AND TRUE LIMIT $2",
        ["f", 10],
    )
    service = Principal("https://k8s", "fundledger-projector", PrincipalKind.SERVICE, LATER)
    with acting_as(service):
        assert scoped(QUERY, "f", 10)[1] == ["f", 10]


def test_a_person_sees_their_tenant_only_as_the_last_parameter() -> None:
    person = Principal("https://idp", "alice", PrincipalKind.PERSON, LATER, tenant="acme")
    with acting_as(person):
        query, args = scoped(QUERY, "f", 10)
    assert query == "SELECT 1 FROM t WHERE fund_id > $1 AND tenant = $3 LIMIT $2"
    assert args == ["f", 10, "acme"]


def test_a_person_without_a_tenant_and_a_query_without_the_marker_are_refused() -> None:
    with (
        acting_as(Principal("https://idp", "bob", PrincipalKind.PERSON, LATER)),
        pytest.raises(PermissionDenied),
    ):
        scoped(QUERY, "f", 10)
    with pytest.raises(ValueError, match="marker"):
        scoped("SELECT 1 FROM t")


def test_a_where_clause_built_piece_by_piece_is_narrowed_the_same_way() -> None:
    params: list[object] = ["f"]
    assert narrowed("fund_id = $1", params) == "(fund_id = $1) AND TRUE"
    assert params == ["f"]
    person = Principal("https://idp", "alice", PrincipalKind.PERSON, LATER, tenant="acme")
    with acting_as(person):
        assert narrowed("fund_id = $1", params) == "(fund_id = $1) AND tenant = $2"
    assert params == ["f", "acme"]
