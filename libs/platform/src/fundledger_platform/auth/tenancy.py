"""Whose data a call may see: the caller's tenant and user, from the verified principal only.

One rule for every service (docs/security.md, "Isolation"):

- A **person** (also when a service calls on their behalf) is bound to the tenant their token
  names: they see only funds, streams, snapshots, reallocations and files of that tenant; what
  belongs to another tenant (or to none) is NOT_FOUND, never PERMISSION_DENIED, so its
  existence is not disclosed. A person whose token names no tenant gets PERMISSION_DENIED
  ``TENANT_MISSING`` from every tenant-scoped call.
- A **service** acting for itself (the projector's subscription, the snapshotter's daily round)
  is not bound to a tenant: its roles already limit it to its job.
- With authentication off there is no principal and no scope: everything is visible, as before.

A request field naming a user (``user_id``, ``owner_user_id``) is never trusted: it must name
the calling person unless they hold ``users.act_for``.

Repositories narrow every query with :func:`tenant_scope` (None: no filter) and check loaded
rows with :func:`visible`; services never compare tenants themselves.
"""

from __future__ import annotations

import logging

from fundledger_platform.auth.authorization import current_method, permitted, require
from fundledger_platform.auth.denials import record_denial
from fundledger_platform.auth.principal import Principal, PrincipalKind, current_principal
from fundledger_platform.errors import PermissionDenied
from fundledger_platform.reasons import Reason

__all__ = [
    "ACT_FOR_OTHERS",
    "calling_user",
    "may_act_for",
    "require_self_or_act_for",
    "tenant_of_new",
    "tenant_scope",
    "visible",
]

logger = logging.getLogger(__name__)

# The permission to name another user in a request field (admins, support tooling).
ACT_FOR_OTHERS = "users.act_for"


def _scoped(principal: Principal | None) -> bool:
    return principal is not None and principal.kind is PrincipalKind.PERSON


def tenant_scope() -> str | None:
    """The only tenant the caller may see; None when it may see every tenant (no
    authentication, or a service acting for itself). Raises PermissionDenied
    (TENANT_MISSING) for a person without a tenant."""
    principal = current_principal()
    if not _scoped(principal):
        return None
    assert principal is not None
    if not principal.tenant:
        # Counted and logged like every other refusal of a caller (fundledger_auth_denied_total).
        record_denial(
            logger,
            "call refused: TENANT_MISSING",
            current_method() or "/unknown/unknown",
            Reason.TENANT_MISSING,
            principal=principal,
        )
        raise PermissionDenied("the caller's token names no tenant", reason=Reason.TENANT_MISSING)
    return principal.tenant


def visible(owner_tenant: str | None) -> bool:
    """Whether something recorded for ``owner_tenant`` ("" or None: recorded without a tenant)
    may be seen by the caller. Callers answer NOT_FOUND when it may not."""
    scope = tenant_scope()
    return scope is None or (owner_tenant or "") == scope


def tenant_of_new() -> str | None:
    """The tenant a stream, fund or file created by this call belongs to (None: no tenant,
    when there is no principal or a service creates it for itself)."""
    return tenant_scope()


def calling_user() -> str | None:
    """The person on whose behalf the call is made (their subject); None for a service acting
    for itself or without authentication."""
    principal = current_principal()
    return principal.subject if _scoped(principal) and principal is not None else None


def may_act_for(user_id: str) -> bool:
    """Whether the caller may name ``user_id`` in a request: themselves, or anyone with
    ``users.act_for``; services acting for themselves and unauthenticated calls may."""
    me = calling_user()
    return me is None or user_id == me or permitted(ACT_FOR_OTHERS)


def require_self_or_act_for(user_id: str) -> None:
    """PermissionDenied (PERMISSION_MISSING ``users.act_for``) when ``user_id`` names someone
    other than the calling person and they may not act for others."""
    me = calling_user()
    if me is not None and user_id != me:
        require(ACT_FOR_OTHERS)
