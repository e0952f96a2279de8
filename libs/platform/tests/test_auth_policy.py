"""The authorization policy: permission matching, bindings, tenant claim, file checks, reload."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from fundledger_platform.auth.claims import claim_value
from fundledger_platform.auth.policy import Policy, PolicyError, PolicyFile

ISSUER = "https://idp.example.com"
CLUSTER = "https://kubernetes.default.svc.cluster.local"


def policy(**roles: list[str]) -> Policy:
    return Policy({name.replace("_", "-"): perms for name, perms in roles.items()})


# -- what a grant covers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("grant", "required", "allowed"),
    [
        # everything
        ("*", "events.append:fund", True),
        ("*", "projections.rebuild", True),
        ("*", "events.read:*", True),
        # a bare grant is the permission for every scope
        ("events.read", "events.read", True),
        ("events.read", "events.read:fund", True),
        ("events.read", "events.read:*", True),
        # `name:*` is the same grant
        ("events.read:*", "events.read", True),
        ("events.read:*", "events.read:file", True),
        ("events.read:*", "events.read:*", True),
        # a scoped grant: that scope, and the bare gate, nothing more
        ("events.read:fund", "events.read:fund", True),
        ("events.read:fund", "events.read", True),
        ("events.read:fund", "events.read:file", False),
        ("events.read:fund", "events.read:*", False),
        # names match whole, never as prefixes, and never across verbs
        ("events.read", "events.readx", False),
        ("events.read", "events", False),
        ("events", "events.read", False),
        ("funds.read", "funds.read.secret", False),
        ("events.read:*", "events.append:fund", False),
        ("events.read:fund", "events.read:fundx", False),
        ("files.read", "files.write", False),
    ],
)
def test_what_a_grant_covers(grant: str, required: str, allowed: bool) -> None:
    assert policy(role=[grant]).allows({"role"}, required) is allowed


@pytest.mark.parametrize(
    "required",
    [
        "",
        "EVENTS.READ",
        "events.read:",
        "events.read:fund:x",
        ":fund",
        "events..read",
        " funds.read",
    ],
)
def test_a_malformed_permission_is_never_allowed(required: str) -> None:
    assert not policy(admin=["*"]).allows({"admin"}, required)


def test_deny_by_default() -> None:
    p = policy(viewer=["funds.read"])
    assert not p.allows(frozenset(), "funds.read")  # no roles
    assert not p.allows({"stranger"}, "funds.read")  # a role the policy does not define
    assert not p.allows({"viewer"}, "files.read")  # not granted
    assert not Policy({}).allows({"admin"}, "funds.read")  # an empty policy


def test_any_role_of_several_grants() -> None:
    p = policy(viewer=["funds.read"], writer=["events.append:fund"])
    assert p.allows({"viewer", "writer"}, "events.append:fund")
    assert p.allows({"viewer", "writer"}, "funds.read")
    assert not p.allows({"viewer"}, "events.append:fund")


# -- bindings -----------------------------------------------------------------------------------

BINDINGS = """
roles:
  fund-viewer: [funds.read]
  fund-manager: [funds.read, "events.append:fund"]
  analyst: [analytics.read]
  svc-projector: ["events.read:*"]
  admin: ["*"]
bindings:
  - {issuer: "https://kubernetes.default.svc.cluster.local",
     subject: "system:serviceaccount:fundledger:projector", roles: [svc-projector]}
  - {claim: groups, contains: fund-managers, roles: [fund-manager]}
  - {claim: groups, contains: analysts, roles: [analyst, fund-viewer]}
  - {claim: scope, contains: "fundledger:read", roles: [fund-viewer]}
  - {claim: realm_access.roles, contains: admin, roles: [admin], issuer: "https://idp.example.com"}
  - {claim: "https://example.com/groups", contains: viewers, roles: [fund-viewer]}
  - {claim: kubernetes.io.namespace, contains: tools, roles: [analyst]}
tenant_claim: org.tenant
"""


@pytest.fixture
def bound(tmp_path: Path) -> Policy:
    path = tmp_path / "policy.yaml"
    path.write_text(BINDINGS)
    return Policy.load(path)


def test_a_service_account_is_bound_by_issuer_and_subject(bound: Policy) -> None:
    subject = "system:serviceaccount:fundledger:projector"
    assert bound.roles_for({}, CLUSTER, subject) == {"svc-projector"}
    assert bound.roles_for({}, ISSUER, subject) == set()  # same subject, another issuer
    assert bound.roles_for({}, CLUSTER, subject + "x") == set()


def test_claims_give_roles_and_the_roles_add_up(bound: Policy) -> None:
    claims = {"groups": ["fund-managers", "analysts", "other"]}
    roles = bound.roles_for(claims, ISSUER, "alice")
    assert roles == {"fund-manager", "analyst", "fund-viewer"}
    assert bound.allows(roles, "events.append:fund")
    assert bound.allows(roles, "analytics.read")


def test_a_string_claim_matches_whole_or_as_a_space_separated_word(bound: Policy) -> None:
    assert bound.roles_for({"scope": "openid fundledger:read"}, ISSUER, "a") == {"fund-viewer"}
    assert bound.roles_for({"scope": "fundledger:read"}, ISSUER, "a") == {"fund-viewer"}
    assert bound.roles_for({"scope": "fundledger:readx"}, ISSUER, "a") == set()
    assert bound.roles_for({"groups": "fund-managers"}, ISSUER, "a") == {"fund-manager"}


def test_claims_of_other_types_match_nothing(bound: Policy) -> None:
    for value in (None, 1, True, {"fund-managers": 1}, [["fund-managers"]], [1, 2]):
        assert bound.roles_for({"groups": value}, ISSUER, "a") == set()


def test_nested_and_dotted_claims(bound: Policy) -> None:
    keycloak = {"realm_access": {"roles": ["admin"]}}
    assert bound.roles_for(keycloak, ISSUER, "root") == {"admin"}
    # the rule names its issuer: the same claim from another issuer gives nothing
    assert bound.roles_for(keycloak, "https://other.example.com", "root") == set()
    # a namespaced claim whose name contains dots, and a Kubernetes claim under `kubernetes.io`
    assert bound.roles_for({"https://example.com/groups": ["viewers"]}, ISSUER, "b") == {
        "fund-viewer"
    }
    assert bound.roles_for({"kubernetes.io": {"namespace": "tools"}}, CLUSTER, "c") == {"analyst"}


def test_no_matching_rule_gives_no_role(bound: Policy) -> None:
    assert bound.roles_for({"groups": ["strangers"]}, ISSUER, "mallory") == frozenset()
    assert not bound.allows(bound.roles_for({}, ISSUER, "mallory"), "funds.read")


def test_the_tenant_claim(bound: Policy) -> None:
    assert bound.tenant_of({"org": {"tenant": "acme"}}) == "acme"
    assert bound.tenant_of({"org": {"tenant": ""}}) is None
    assert bound.tenant_of({"org": {"tenant": ["acme"]}}) is None
    assert bound.tenant_of({"tenant": "acme"}) is None  # not where this policy looks
    assert Policy({}).tenant_of({"tenant": "acme"}) == "acme"  # the default claim


def test_claim_value_prefers_the_longest_present_key() -> None:
    claims = {"a.b": {"c": 1}, "a": {"b": {"c": 2}}}
    assert claim_value(claims, "a.b.c") == 1
    assert claim_value({"a": {"b": {"c": 2}}}, "a.b.c") == 2
    assert claim_value({"a": 1}, "a.b") is None
    assert claim_value({}, "a") is None


def test_the_design_example_parses() -> None:
    text = """
roles:
  fund-viewer:  [funds.read, events.read:fund, reallocation.preview, files.read]
  admin:        ["*"]
  svc-projector:   [events.read:*, events.subscribe:*]
bindings:
  - {issuer: "https://kubernetes.default.svc.cluster.local",
     subject: "system:serviceaccount:fundledger:projector", roles: [svc-projector]}
tenant_claim: tenant
"""
    import yaml

    p = Policy.from_mapping(yaml.safe_load(text))
    assert p.allows({"svc-projector"}, "events.subscribe:fund")
    assert not p.allows({"fund-viewer"}, "events.read:file")


# -- a bad file is refused, naming what is wrong ------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("roles: {admin: [*]}", "not YAML"),  # an unquoted * is a YAML alias
        ("- just a list", "a policy is a mapping"),
        ("roles: {}\nextra: 1", "unknown keys ['extra']"),
        ("roles: {viewer: [Funds.Read]}", "roles.viewer"),
        ("roles: {viewer: ['funds.read:']}", "is not a permission"),
        ("roles: {viewer: funds.read}\nbindings: {}", "`bindings` is a list"),
        ("roles: {viewer: [1]}", "a list of strings"),
        ("roles: {viewer: []}\nbindings: [{claim: g, contains: x, roles: [ghost]}]", "ghost"),
        ("roles: {v: []}\nbindings: [{subject: s, roles: [v]}]", "add `issuer`"),
        ("roles: {v: []}\nbindings: [{claim: g, roles: [v]}]", "go together"),
        ("roles: {v: []}\nbindings: [{issuer: i, roles: [v]}]", "either issuer+subject"),
        (
            "roles: {v: []}\nbindings: [{issuer: i, subject: s, claim: g, contains: x,"
            " roles: [v]}]",
            "either issuer+subject",
        ),
        ("roles: {v: []}\nbindings: [{claim: g, contains: x, roles: []}]", "at least one role"),
        ("roles: {v: []}\nbindings: [{claim: g, contains: x, role: [v]}]", "unknown keys"),
        ("roles: {v: []}\nbindings: [{claim: '', contains: x, roles: [v]}]", "non-empty string"),
        ("roles: {}\ntenant_claim: ''", "`tenant_claim`"),
    ],
)
def test_an_invalid_policy_is_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    with pytest.raises(PolicyError, match=f"{path}.*") as caught:
        Policy.load(path)
    assert message in str(caught.value)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read"):
        Policy.load(tmp_path / "absent.yaml")


def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    """A blank file is more likely a half-written update than a policy: at start it stops the
    service, on reload the last good policy stays."""
    path = tmp_path / "policy.yaml"
    path.write_text("")
    with pytest.raises(PolicyError, match="a policy is a mapping"):
        Policy.load(path)


def test_a_policy_without_bindings_denies_everything(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("roles: {admin: ['*']}\n")
    policy = Policy.load(path)
    roles = policy.roles_for({"groups": ["admin"]}, ISSUER, "root")
    assert roles == frozenset()
    assert not policy.allows(roles, "funds.read")


# -- reloading ----------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def write(path: Path, text: str) -> None:
    """Replace the file the way a ConfigMap update does: a new file swapped in (new inode)."""
    fresh = path.with_suffix(".new")
    fresh.write_text(text)
    os.replace(fresh, path)


VIEWER = "roles: {viewer: [funds.read]}\n"
VIEWER_AND_FILES = "roles: {viewer: [funds.read, files.read]}\n"


def test_a_changed_file_is_read_again_at_the_next_check(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(VIEWER)
    clock = Clock()
    source = PolicyFile(path, check_seconds=5.0, clock=clock)
    assert not source.current().allows({"viewer"}, "files.read")
    write(path, VIEWER_AND_FILES)
    clock.now += 4.9
    assert not source.current().allows({"viewer"}, "files.read")  # not looked at yet
    clock.now += 0.1
    assert source.current().allows({"viewer"}, "files.read")
    write(path, VIEWER)  # and back: a permission taken away is gone at the next check
    clock.now += 5.0
    assert not source.current().allows({"viewer"}, "files.read")


def test_a_symlinked_file_is_followed_when_the_link_moves(tmp_path: Path) -> None:
    """Kubernetes mounts a ConfigMap as `policy.yaml -> ..data/policy.yaml` and updates it by
    pointing `..data` at a new directory."""
    for version, text in (("v1", VIEWER), ("v2", VIEWER_AND_FILES)):
        (tmp_path / version).mkdir()
        (tmp_path / version / "policy.yaml").write_text(text)
    (tmp_path / "..data").symlink_to("v1")
    (tmp_path / "policy.yaml").symlink_to("..data/policy.yaml")
    clock = Clock()
    source = PolicyFile(tmp_path / "policy.yaml", check_seconds=1.0, clock=clock)
    assert not source.current().allows({"viewer"}, "files.read")
    (tmp_path / "..data_tmp").symlink_to("v2")
    os.replace(tmp_path / "..data_tmp", tmp_path / "..data")
    clock.now += 1.0
    assert source.current().allows({"viewer"}, "files.read")


def test_a_broken_update_keeps_the_last_good_policy(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(VIEWER)
    clock = Clock()
    source = PolicyFile(path, check_seconds=1.0, clock=clock)
    write(path, "roles: {viewer: [NOT A PERMISSION]}\n")
    with caplog.at_level(logging.ERROR, logger="fundledger_platform.auth.policy"):
        for _ in range(3):
            clock.now += 1.0
            assert source.current().allows({"viewer"}, "funds.read")
    assert len([r for r in caplog.records if "not reloaded" in r.getMessage()]) == 1
    path.unlink()  # a vanished file too
    clock.now += 1.0
    assert source.current().allows({"viewer"}, "funds.read")
    write(path, VIEWER_AND_FILES)  # and a good one is taken again
    clock.now += 1.0
    assert source.current().allows({"viewer"}, "files.read")


def test_a_broken_file_at_start_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("roles: [not, a, mapping]\n")
    with pytest.raises(PolicyError, match="roles"):
        PolicyFile(path)
