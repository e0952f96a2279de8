"""Acting for a person: the person's own token, kept while their call is handled, so the calls a
service makes for them carry it to the next service.

A service handling a person's call (allocation committing a reallocation, storage attaching a
file) calls the event store with its OWN token in ``authorization`` and the person's token in
``x-fundledger-subject-token`` (the vocabulary of RFC 8693 token exchange). The callee verifies
both and makes the person the call's principal, the service its ``actor``; a request field
naming a user is never what decides.

The server interceptor (``auth/interceptor.py``) sets :func:`person_token` for as long as a
person's call is handled: their bearer token, or the subject token a service forwarded for them
(so a chain of services keeps acting for the same person). The platform's client interceptors
(``auth/client.py``) read it and forward it; work with no person in its context (a
subscription, a daily round, a task started at start-up) sends only the service's token.

Tasks inherit the context they were created in: a task started while a person's call is
handled would keep acting for them (until their token expires). Start long-lived work outside
calls, or inside :func:`as_service`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token

__all__ = ["SUBJECT_TOKEN_HEADER", "as_service", "forwarding", "person_token"]

# The metadata key carrying the person's token on a service's call made for them.
SUBJECT_TOKEN_HEADER = "x-fundledger-subject-token"

# The raw token of the person whose call is being handled; None for a service acting for
# itself, or with authentication off. Never logged.
_person_token: ContextVar[str | None] = ContextVar("fundledger_person_token", default=None)


def person_token() -> str | None:
    """The token of the person whose call is being handled, to forward; None when none is."""
    return _person_token.get()


def enter_person_token(token: str | None) -> Token[str | None]:
    """Sets the person's token until :func:`leave_person_token` (the interceptor's fast path)."""
    return _person_token.set(token)


def leave_person_token(reset: Token[str | None]) -> None:
    _person_token.reset(reset)


@contextmanager
def forwarding(token: str | None) -> Iterator[None]:
    """Runs the enclosed code with ``token`` as the person's token to forward (None: none)."""
    reset = _person_token.set(token)
    try:
        yield
    finally:
        _person_token.reset(reset)


@contextmanager
def as_service() -> Iterator[None]:
    """Runs the enclosed code as the service itself, forwarding no person's token: for work a
    person's call starts but that is not theirs (a background task it creates)."""
    with forwarding(None):
        yield
