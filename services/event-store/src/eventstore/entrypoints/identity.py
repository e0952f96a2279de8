"""Who is appending: the verified principal as the event store records it (never the request).

- a person calling directly: user = their subject, no actor, their tenant;
- a service acting for a person (``x-fundledger-subject-token``): user = the person, actor = the
  service, the person's tenant;
- a service acting for itself: no user (a request's ``user_id`` is not trusted, and there is no
  person to name), actor = the service, not bound to a tenant;
- authentication off: None — the request's fields are stored as sent, as before.
"""

from __future__ import annotations

from fundledger_platform.auth.principal import PrincipalKind, current_principal
from fundledger_platform.auth.tenancy import calling_user, tenant_scope

from eventstore.domain.model import Identity


def caller_identity() -> Identity | None:
    """The identity the current call's events are written with; None without authentication.
    PermissionDenied (TENANT_MISSING) for a person whose token names no tenant."""
    principal = current_principal()
    if principal is None:
        return None
    actor = principal.actor if principal.kind is PrincipalKind.PERSON else principal.subject
    return Identity(user_id=calling_user(), actor=actor, tenant=tenant_scope())
