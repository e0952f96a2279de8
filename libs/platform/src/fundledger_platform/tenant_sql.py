"""The tenant predicate of a service's read queries, in one place (docs/security.md,
"Isolation").

Tenant filters leak when one query path forgets them, so a repository sends no read made for
a caller without :func:`scoped`: the query text carries the marker ``{tenant}`` where the
predicate goes, and :func:`scoped` replaces it with ``tenant = $n`` (the caller's tenant, from
the verified principal: ``tenant_scope()``) or with ``TRUE`` for a caller not bound to a tenant
(a service acting for itself, or authentication off). Two texts rather than
``$n IS NULL OR tenant = $n``, so each has a plan of its own (the scoped one can use an index
on the tenant). A query without the marker is a programming error, refused before it reaches
the database. The tables name the column ``tenant``.
"""

from __future__ import annotations

from fundledger_platform.auth.tenancy import tenant_scope

__all__ = ["TENANT", "narrowed", "scoped"]

TENANT = "{tenant}"


def scoped(query: str, *args: object) -> tuple[str, list[object]]:
    """``query`` narrowed to the caller's tenant, and its arguments (the tenant appended as the
    last parameter when there is one). PermissionDenied (TENANT_MISSING) for a person whose
    token names no tenant."""
    if TENANT not in query:
        raise ValueError("a tenant-scoped query without the {tenant} marker")
    params = list(args)
    return query.replace(TENANT, _predicate(params)), params


def narrowed(where: str, params: list[object]) -> str:
    """A WHERE clause built piece by piece, narrowed the same way: ``where`` AND the tenant
    predicate, the tenant appended to ``params`` (for queries whose parameters are numbered as
    they are added)."""
    return f"({where}) AND {_predicate(params)}"


def _predicate(params: list[object]) -> str:
    scope = tenant_scope()
    if scope is None:
        return "TRUE"
    params.append(scope)
    return f"tenant = ${len(params)}"
