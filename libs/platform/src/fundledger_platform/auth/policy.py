"""The authorization policy: which roles hold which permissions, which token claims give which
roles, and which claim holds a principal's tenant. Pure: no gRPC, no clock, no environment.

The file (YAML; the same file for every service, mounted from its ConfigMap)::

    roles:
      fund-viewer: [funds.read, "events.read:fund"]
      admin: ["*"]
    bindings:
      - {issuer: "https://kubernetes.default.svc", subject: "system:serviceaccount:fl:projector",
         roles: [svc-projector]}
      - {claim: groups, contains: fund-managers, roles: [fund-manager]}
    tenant_claim: tenant

Permissions are ``<name>`` or ``<name>:<scope>`` (the scope is a stream category, e.g.
``events.append:fund``). What a role's grant covers:

* ``*`` covers every permission;
* ``<name>`` and ``<name>:*`` cover ``<name>`` with any scope or none (the two are the same
  grant: a permission not narrowed to a scope is not narrowed);
* ``<name>:<scope>`` covers ``<name>:<scope>``, and the bare ``<name>``.

A bare ``<name>`` *required* (what an RPC declares in the contract) asks "this permission for
some scope": it is the gate the interceptor checks before the handler runs, and the service then
asks for the scope the request touches (``events.append:fund``). ``<name>:*`` required asks for
every scope (e.g. reading every category). Anything not granted is denied.

Bindings: every rule that matches a verified token adds its roles (they add up). A rule
matches by ``issuer`` and ``subject`` together, or by a ``claim`` that ``contains`` a value (a
list claim holding it, or a string claim equal to it or holding it as a space-separated word,
like OAuth's ``scope``); a claim rule may also name an ``issuer`` to trust only that one.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml

from fundledger_platform.auth.claims import claim_value

__all__ = ["Binding", "Policy", "PolicyError", "PolicyFile", "PolicySource"]

logger = logging.getLogger(__name__)

WILDCARD = "*"
_NAME = r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*"
_SCOPE = r"[a-z][a-z0-9_-]*"
# A permission code asks for (never a wildcard scope unless it asks for every scope).
_PERMISSION = re.compile(rf"(?P<name>{_NAME})(?::(?P<scope>{_SCOPE}|\*))?")
_ROLE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]*")
_RULE_KEYS = frozenset({"issuer", "subject", "claim", "contains", "roles"})
_DEFAULT_TENANT_CLAIM = "tenant"


# Remembered answers of Policy.allows (role sets x permissions; a handful in practice).
_MAX_ANSWERS = 4096


class PolicyError(ValueError):
    """The policy file is unreadable or not a valid policy (the message says where)."""


def parse_permission(permission: str) -> tuple[str, str | None]:
    """``events.append:fund`` -> (``events.append``, ``fund``); PolicyError when malformed."""
    match = _PERMISSION.fullmatch(permission)
    if match is None:
        raise PolicyError(
            f"{permission!r} is not a permission (`<name>` or `<name>:<scope>`, lower case)"
        )
    return match["name"], match["scope"]


@dataclass(frozen=True, slots=True)
class _Grants:
    """One role's permissions, indexed for the three questions ``allows`` asks."""

    everything: bool
    exact: frozenset[str]  # grants as written: `name`, `name:*`, `name:scope`
    unscoped: frozenset[str]  # names granted for every scope (`name` or `name:*`)
    names: frozenset[str]  # names granted for at least one scope

    @classmethod
    def of(cls, role: str, permissions: Iterable[str]) -> _Grants:
        exact: set[str] = set()
        unscoped: set[str] = set()
        names: set[str] = set()
        everything = False
        for permission in permissions:
            if permission == WILDCARD:
                everything = True
                continue
            try:
                name, scope = parse_permission(permission)
            except PolicyError as err:
                raise PolicyError(f"roles.{role}: {err}") from None
            exact.add(permission)
            names.add(name)
            if scope is None or scope == WILDCARD:
                unscoped.add(name)
        return cls(everything, frozenset(exact), frozenset(unscoped), frozenset(names))

    def cover(self, name: str, scope: str | None) -> bool:
        if self.everything or name in self.unscoped:
            return True
        if scope is None:
            return name in self.names
        return scope != WILDCARD and f"{name}:{scope}" in self.exact


@dataclass(frozen=True, slots=True)
class Binding:
    """One rule of ``bindings``: when it matches a token's claims, it gives ``roles``."""

    roles: frozenset[str]
    issuer: str | None = None
    subject: str | None = None
    claim: str | None = None
    contains: str | None = None

    def matches(self, claims: Mapping[str, object], issuer: str, subject: str) -> bool:
        if self.issuer is not None and self.issuer != issuer:
            return False
        if self.subject is not None:
            return self.subject == subject
        if self.claim is None or self.contains is None:  # a rule names one or the other
            return False
        return _contains(claim_value(claims, self.claim), self.contains)


def _contains(value: object, wanted: str) -> bool:
    if isinstance(value, str):
        return value == wanted or wanted in value.split()
    if isinstance(value, list | tuple):
        return any(isinstance(item, str) and item == wanted for item in value)
    return False


class Policy:
    """A parsed, immutable policy. ``Policy.load(path)`` or ``Policy.from_mapping(data)``."""

    def __init__(
        self,
        roles: Mapping[str, Iterable[str]],
        bindings: Iterable[Binding] = (),
        tenant_claim: str = _DEFAULT_TENANT_CLAIM,
    ) -> None:
        self._grants = {role: _Grants.of(role, perms) for role, perms in roles.items()}
        self.roles: Mapping[str, frozenset[str]] = {
            role: frozenset(perms) for role, perms in roles.items()
        }
        self.bindings = tuple(bindings)
        for index, binding in enumerate(self.bindings):
            unknown = sorted(binding.roles - self.roles.keys())
            if unknown:
                raise PolicyError(f"bindings[{index}]: unknown roles {unknown}")
        self.tenant_claim = tenant_claim
        self._answers: dict[tuple[frozenset[str], str], bool] = {}

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Policy:
        """Read and check a policy file; PolicyError (naming the file) when it is not one."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise PolicyError(f"{path}: cannot read the policy: {err}") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise PolicyError(f"{path}: not YAML: {err}") from None
        try:
            return cls.from_mapping(data)
        except PolicyError as err:
            raise PolicyError(f"{path}: {err}") from None

    @classmethod
    def from_mapping(cls, data: object) -> Policy:
        if not isinstance(data, Mapping):
            raise PolicyError("a policy is a mapping with `roles`, `bindings`, `tenant_claim`")
        unknown = sorted(set(data) - {"roles", "bindings", "tenant_claim"})
        if unknown:
            raise PolicyError(f"unknown keys {unknown}")
        roles = data.get("roles")
        if roles is None:
            roles = {}
        if not isinstance(roles, Mapping):
            raise PolicyError("`roles` maps a role to its list of permissions")
        checked: dict[str, list[str]] = {}
        for role, perms in roles.items():
            if not isinstance(role, str) or _ROLE.fullmatch(role) is None:
                raise PolicyError(f"roles: {role!r} is not a role name")
            checked[role] = _strings(perms, f"roles.{role}")
        raw_bindings = data.get("bindings")
        if raw_bindings is None:
            raw_bindings = []
        if not isinstance(raw_bindings, list):
            raise PolicyError("`bindings` is a list of rules")
        bindings = [_binding(rule, f"bindings[{i}]") for i, rule in enumerate(raw_bindings)]
        tenant_claim = data.get("tenant_claim", _DEFAULT_TENANT_CLAIM)
        if not isinstance(tenant_claim, str) or not tenant_claim:
            raise PolicyError("`tenant_claim` is the name of a claim")
        return cls(checked, bindings, tenant_claim)

    def current(self) -> Policy:
        """A fixed policy is its own source (see PolicySource)."""
        return self

    def roles_for(self, claims: Mapping[str, object], issuer: str, subject: str) -> frozenset[str]:
        """Every role the bindings give a verified token (none: the principal may do nothing)."""
        roles: set[str] = set()
        for binding in self.bindings:
            if binding.matches(claims, issuer, subject):
                roles |= binding.roles
        return frozenset(roles)

    def tenant_of(self, claims: Mapping[str, object]) -> str | None:
        """The tenant named by ``tenant_claim``, None when the token has none (or not a string)."""
        value = claim_value(claims, self.tenant_claim)
        return value if isinstance(value, str) and value else None

    def allows(self, roles: Iterable[str], permission: str) -> bool:
        """Whether any of ``roles`` covers ``permission``; a malformed permission or an unknown
        role covers nothing (deny by default).

        Asked on every call (the RPC's permission, then the request's): answers for a principal's
        role set (a frozenset) are remembered, bounded, for the life of this parsed policy."""
        if isinstance(roles, frozenset):
            key = (roles, permission)
            known = self._answers.get(key)
            if known is None:
                known = self._allows(roles, permission)
                if len(self._answers) >= _MAX_ANSWERS:
                    self._answers.clear()
                self._answers[key] = known
            return known
        return self._allows(roles, permission)

    def _allows(self, roles: Iterable[str], permission: str) -> bool:
        match = _PERMISSION.fullmatch(permission)
        if match is None:
            return False
        name, scope = match["name"], match["scope"]
        for role in roles:
            grants = self._grants.get(role)
            if grants is not None and grants.cover(name, scope):
                return True
        return False


def _strings(value: object, where: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise PolicyError(f"{where}: a list of strings (quote '*': YAML reads * as an alias)")
    return list(value)


def _binding(rule: object, where: str) -> Binding:
    if not isinstance(rule, Mapping):
        raise PolicyError(f"{where}: a rule is a mapping")
    unknown = sorted(set(rule) - _RULE_KEYS)
    if unknown:
        raise PolicyError(f"{where}: unknown keys {unknown}")
    fields: dict[str, str | None] = {}
    for key in ("issuer", "subject", "claim", "contains"):
        value = rule.get(key)
        if value is not None and (not isinstance(value, str) or not value):
            raise PolicyError(f"{where}.{key}: a non-empty string")
        fields[key] = value
    by_subject = fields["subject"] is not None
    by_claim = fields["claim"] is not None or fields["contains"] is not None
    if by_subject == by_claim:
        raise PolicyError(f"{where}: give either issuer+subject, or claim+contains")
    if by_subject and fields["issuer"] is None:
        raise PolicyError(f"{where}: a subject is only unique with its issuer: add `issuer`")
    if by_claim and (fields["claim"] is None or fields["contains"] is None):
        raise PolicyError(f"{where}: `claim` and `contains` go together")
    roles = _strings(rule.get("roles"), f"{where}.roles")
    if not roles:
        raise PolicyError(f"{where}.roles: at least one role")
    return Binding(roles=frozenset(roles), **fields)


class PolicySource(Protocol):
    """Where the policy in force comes from: a fixed :class:`Policy` or a :class:`PolicyFile`."""

    def current(self) -> Policy: ...


class PolicyFile:
    """A policy file, read at start and again when it changes.

    ``current()`` looks at the file (one ``stat``) at most every ``check_seconds``, and re-reads
    it when its modification time, size or inode changed (a ConfigMap update swaps a symlink).
    A file that became unreadable or invalid keeps the last good policy in force, with an
    error logged once per change; at start it is an error (the service does not start).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        check_seconds: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = Path(path)
        self._check_seconds = check_seconds
        self._clock = clock
        self._stamp = _stamp(self.path)
        self._policy = Policy.load(self.path)
        self._next_check = clock() + check_seconds

    def current(self) -> Policy:
        now = self._clock()
        if now >= self._next_check:
            self._next_check = now + self._check_seconds
            self._reload_if_changed()
        return self._policy

    def _reload_if_changed(self) -> None:
        stamp = _stamp(self.path)
        if stamp == self._stamp:
            return
        self._stamp = stamp  # a bad version is reported once, not on every check
        try:
            self._policy = Policy.load(self.path)
        except PolicyError as err:
            logger.error("policy not reloaded, the previous one stays in force: %s", err)
            return
        logger.info("policy reloaded from %s", self.path)


def _stamp(path: Path) -> tuple[Any, ...] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino, st.st_dev)
