"""The verified identity of a call: one Principal per call, in a context variable.

grpc.aio interceptors see only the method and the metadata, and handlers run in the same task
as the interceptor's continuation, so a ContextVar set by the authentication interceptor is what
the handler (and the use cases it calls) read. It is never derived from request fields.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class PrincipalKind(StrEnum):
    PERSON = "person"
    SERVICE = "service"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a verified token says the caller is, with the roles the policy gives them."""

    issuer: str
    subject: str
    kind: PrincipalKind
    expires_at: datetime
    tenant: str | None = None
    roles: frozenset[str] = frozenset()
    # Every claim of the verified token, for the policy's bindings (never logged: it may hold
    # personal data).
    claims: dict[str, object] = field(default_factory=dict, repr=False, compare=False)
    # The service calling on this person's behalf (its token's subject), when the person's token
    # arrived forwarded in `x-fundledger-subject-token`; None when the person called directly.
    actor: str | None = None


_current: ContextVar[Principal | None] = ContextVar("fundledger_principal", default=None)


def current_principal() -> Principal | None:
    """The calling principal; None where no authentication ran (auth switched off)."""
    return _current.get()


def enter_principal(principal: Principal | None) -> Token[Principal | None]:
    """Sets the caller until :func:`leave_principal` (the interceptor's per-call fast path; code
    elsewhere uses :func:`acting_as`)."""
    return _current.set(principal)


def leave_principal(token: Token[Principal | None]) -> None:
    _current.reset(token)


@contextmanager
def acting_as(principal: Principal | None) -> Iterator[None]:
    """Runs the enclosed code with `principal` as the caller."""
    token = _current.set(principal)
    try:
        yield
    finally:
        _current.reset(token)
