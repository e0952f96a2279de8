"""Authorization: every RPC's permission is declared in the contract, and one interceptor
enforces it before the handler runs.

Each RPC carries ``option (fundledger.auth.v1.requires) = "<permission>"`` in its proto. The
interceptor reads it from the generated descriptors (once per method), and refuses the call with
PERMISSION_DENIED (reason PERMISSION_MISSING, the permission in the ErrorInfo metadata) unless
the calling :class:`~fundledger_platform.auth.principal.Principal`'s roles grant it under the
policy in force. An RPC that declares nothing is refused to everyone: deny by default. Health and
reflection stay open.

A permission that depends on the request (the stream's category, the file's owner) is checked by
the service layer with :func:`require` once it knows it, e.g.
``require(f"events.append:{category}")``, before it writes anything.

Off unless configured: without ``FUNDLEDGER_AUTH_POLICY_FILE`` no interceptor is installed and
:func:`require` allows everything. The interceptor must sit inside the authentication one (which
sets the principal), and inside error mapping and metrics so denials are counted like any status.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Collection
from contextvars import ContextVar, Token
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from fundledger.auth.v1 import options_pb2
from google.protobuf import descriptor_pool

from fundledger_platform._wrapping import CallGuard, WrappingInterceptor, wrap_handler
from fundledger_platform.auth.denials import record_denial
from fundledger_platform.auth.policy import PolicyFile, PolicySource
from fundledger_platform.auth.principal import Principal, current_principal
from fundledger_platform.errors import PermissionDenied, to_status
from fundledger_platform.interceptors import split_method
from fundledger_platform.reasons import Reason
from fundledger_platform.settings import env_float, env_str
from fundledger_platform.telemetry import record_rpc_status

__all__ = [
    "OPEN_SERVICES",
    "AuthorizationInterceptor",
    "AuthorizationSettings",
    "Rule",
    "authorization_interceptor",
    "authorize",
    "declared_permission",
    "permitted",
    "require",
]

logger = logging.getLogger(__name__)

# Callable by anyone who reaches the port: probes and (when enabled) reflection.
OPEN_SERVICES: frozenset[str] = frozenset(
    {
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
        "grpc.reflection.v1.ServerReflection",
    }
)

# The rule of the current call (its method and the policy in force); None where no
# authorization interceptor ran (authorization switched off, or code running outside a call).
_in_force: ContextVar[Rule | None] = ContextVar("fundledger_authorization", default=None)


@dataclass(frozen=True, slots=True)
class AuthorizationSettings:
    """Where the policy is (``FUNDLEDGER_AUTH_POLICY_FILE``; unset: authorization off) and how
    often the file is looked at for changes (``FUNDLEDGER_AUTH_POLICY_CHECK_SECONDS``)."""

    policy_file: Path
    check_seconds: float = 2.0

    @classmethod
    def from_env(cls) -> AuthorizationSettings | None:
        """The settings, or None when no policy file is configured (the default)."""
        path = env_str("AUTH_POLICY_FILE", "")
        if not path:
            return None
        return cls(
            policy_file=Path(path),
            check_seconds=env_float("AUTH_POLICY_CHECK_SECONDS", 2.0, min_value=0.0),
        )

    def load(self) -> PolicyFile:
        """The policy file, read now: PolicyError (naming the file and the fault) when it is
        missing or invalid, so a service never starts with a broken policy."""
        return PolicyFile(self.policy_file, check_seconds=self.check_seconds)


def declared_permission(full_method: str) -> str | None:
    """The ``requires`` option of ``/pkg.Service/Method``; None when the method declares none
    or is not in the descriptor pool (its generated module was never imported). The
    interceptor looks each method up once (its handler cache)."""
    service, method = split_method(full_method)
    try:
        descriptor = descriptor_pool.Default().FindMethodByName(f"{service}.{method}")
    except KeyError:
        return None
    options = descriptor.GetOptions()
    if not options.HasExtension(options_pb2.requires):
        return None
    permission: str = options.Extensions[options_pb2.requires]
    return permission or None


def require(permission: str) -> None:
    """Raise PermissionDenied (PERMISSION_MISSING) unless the caller holds ``permission``.

    For permissions that depend on the request, checked by the service layer before it writes
    anything: ``require(f"events.append:{category}")``. Allows everything when authorization
    is off (no policy in force for this call).
    """
    rule = _in_force.get()
    if rule is None:
        return
    principal = current_principal()
    if principal is None or not rule.policy.current().allows(principal.roles, permission):
        raise _denied(permission, rule.method, principal)


def permitted(permission: str) -> bool:
    """Whether the caller holds ``permission`` (True when authorization is off): for narrowing
    a listing to what the caller may see instead of refusing it."""
    rule = _in_force.get()
    if rule is None:
        return True
    principal = current_principal()
    return principal is not None and rule.policy.current().allows(principal.roles, permission)


def authorization_interceptor(
    policy: PolicySource, *, open_services: Collection[str] = OPEN_SERVICES
) -> AuthorizationInterceptor:
    """The server interceptor enforcing each RPC's declared permission under ``policy``."""
    return AuthorizationInterceptor(policy, open_services=open_services)


class AuthorizationInterceptor(WrappingInterceptor):
    """Refuses a call before its handler runs unless the principal holds the RPC's permission."""

    def __init__(
        self, policy: PolicySource, *, open_services: Collection[str] = OPEN_SERVICES
    ) -> None:
        self._policy = policy
        self._open = frozenset(open_services)
        super().__init__()

    def _wrap(self, full_method: str, handler: Any) -> Any:
        service, _ = split_method(full_method)
        if service in self._open:
            return handler
        rule = Rule(full_method, declared_permission(full_method), self._policy)
        guard: CallGuard = lambda context: _Authorize(context, rule)  # noqa: E731
        return wrap_handler(handler, guard)


@dataclass(frozen=True, slots=True)
class Rule:
    """What one RPC needs: its declared permission under the policy in force."""

    method: str
    permission: str | None  # None: the RPC declares none, nobody may call it
    policy: PolicySource

    @classmethod
    def of(cls, full_method: str, policy: PolicySource) -> Rule | None:
        """The rule of ``full_method``; None for the open services (health, reflection)."""
        service, _ = split_method(full_method)
        if service in OPEN_SERVICES:
            return None
        return cls(full_method, declared_permission(full_method), policy)


def authorize(rule: Rule, principal: Principal | None) -> PermissionDenied | None:
    """The refusal (counted and logged) when ``principal`` may not call the rule's RPC."""
    if (
        rule.permission is None
        or principal is None
        or not rule.policy.current().allows(principal.roles, rule.permission)
    ):
        return _denied(rule.permission, rule.method, principal)
    return None


def current_method() -> str | None:
    """The RPC (``/pkg.Service/Method``) whose rule is in force; None outside an authorized call."""
    rule = _in_force.get()
    return None if rule is None else rule.method


def enter_rule(rule: Rule) -> Token[Rule | None]:
    """Puts ``rule``'s policy in force for require()/permitted() until :func:`leave_rule`."""
    return _in_force.set(rule)


def leave_rule(token: Token[Rule | None]) -> None:
    _in_force.reset(token)


class _Authorize:
    """Checks before the handler starts; while it runs, the policy is in force for require()."""

    __slots__ = ("_context", "_rule", "_token")

    def __init__(self, context: Any, rule: Rule) -> None:
        self._context = context
        self._rule = rule
        self._token: Token[Rule | None] | None = None

    async def __aenter__(self) -> None:
        rule = self._rule
        err = authorize(rule, current_principal())
        if err is not None:
            record_rpc_status(err.code, err.message, {"fundledger.error.reason": err.reason})
            # Aborting here (not raising) refuses the call whatever the interceptor order:
            # the handler never starts, so nothing is read or written.
            await self._context.abort_with_status(to_status(err))
        self._token = _in_force.set(rule)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._token is not None:
            # A stream closed from another context (never in grpc.aio's own task) cannot
            # reset; the call's context ends with it anyway.
            with contextlib.suppress(ValueError):
                _in_force.reset(self._token)


def _denied(permission: str | None, method: str, principal: Principal | None) -> PermissionDenied:
    """The error for a refusal, counted (``fundledger_auth_denied_total``) and logged as one
    structured line (never the token or claims)."""
    if permission is None:
        message = f"{method} declares no permission: refused to every caller"
        metadata = {"method": method}
    else:
        message = f"permission {permission} required"
        metadata = {"permission": permission}
    record_denial(
        logger,
        "permission denied",
        method,
        Reason.PERMISSION_MISSING,
        principal=principal,
        fields={"grpc_method": method, "permission": permission},
    )
    return PermissionDenied(message, reason=Reason.PERMISSION_MISSING, metadata=metadata)
