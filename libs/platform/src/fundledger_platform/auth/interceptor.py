"""The server side of authentication: one interceptor, in every service's server.

For every method except the standard health service (probes must work without credentials)
and, while ``FUNDLEDGER_REFLECTION`` is on, server reflection, the call must carry
``authorization: Bearer <jwt>``. A verified token becomes the call's
:class:`~fundledger_platform.auth.principal.Principal` (``current_principal()``) for as long as the
handler runs; anything else ends the call UNAUTHENTICATED with an ErrorInfo reason
(TOKEN_MISSING, TOKEN_MALFORMED, TOKEN_EXPIRED, TOKEN_INVALID, TOKEN_TOO_LARGE). The token itself
never reaches an error, a log line or a span.

Acting for a person (``auth/forwarding.py``): a SERVICE may also send the person's token in
``x-fundledger-subject-token``. It is verified exactly like a bearer token (the same verifier,
cache and audience) and must be a PERSON's; the call's principal is then the person (their roles
and tenant apply) with ``actor`` = the service's subject. A person sending one, or a subject
token that does not verify, ends the call UNAUTHENTICATED (TOKEN_INVALID or TOKEN_EXPIRED, with
``check=subject_token``). While a person's call is handled their token (their own, or the one
forwarded for them) is kept for the platform's clients to forward in turn.

Placement (``build_server``): inside error mapping, so the ``Unauthenticated`` it raises becomes
the call's status the same way every domain error does, and therefore inside the metrics and
tracing interceptors too, so refused calls are counted (``code="UNAUTHENTICATED"``) and traced
like any other. A refusal keeps the RPC's cardinality (``wrap_handler``): streaming RPCs are
refused with a status, not broken.

Response streams outlive tokens (Subscribe, ReadAll, DownloadFile): a stream ends with
UNAUTHENTICATED (TOKEN_EXPIRED) when its token expires (plus the leeway), checked before every
message and by a timer while the handler waits for the next one. The caller reconnects with a
fresh token (Subscribe resumes from its last position).

Every refusal (and every stream ended by expiry) counts once in ``fundledger_auth_denied_total``
and writes one warning line (``fundledger_platform.auth.denials``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from contextvars import Token
from dataclasses import replace
from types import TracebackType
from typing import TYPE_CHECKING, Any

import grpc

from fundledger_platform._wrapping import (
    ServerInterceptorBase,
    WrappingInterceptor,
    no_guard,
    wrap_handler,
)
from fundledger_platform.auth.authorization import Rule, authorize, enter_rule, leave_rule
from fundledger_platform.auth.denials import record_denial
from fundledger_platform.auth.forwarding import (
    SUBJECT_TOKEN_HEADER,
    enter_person_token,
    leave_person_token,
)
from fundledger_platform.auth.policy import PolicyFile, PolicySource
from fundledger_platform.auth.principal import (
    Principal,
    PrincipalKind,
    current_principal,
    enter_principal,
    leave_principal,
)
from fundledger_platform.auth.verifier import TokenVerifier
from fundledger_platform.errors import Unauthenticated
from fundledger_platform.reasons import Reason

if TYPE_CHECKING:
    from fundledger_platform.settings import ServerSettings

__all__ = [
    "HEALTH_PREFIX",
    "REFLECTION_PREFIX",
    "AuthenticationInterceptor",
    "authentication_interceptors",
    "bearer_token",
    "subject_token",
]

logger = logging.getLogger(__name__)

HEALTH_PREFIX = "/grpc.health.v1.Health/"
REFLECTION_PREFIX = "/grpc.reflection."
_SCHEME = "bearer "


def authentication_interceptors(
    settings: ServerSettings, *, policy: PolicyFile | None = None
) -> list[ServerInterceptorBase]:
    """The interceptor for ``build_server``: none while authentication is off. ``policy`` (the
    authorization policy, when one is configured) maps verified claims to roles and tenant, and
    the same guard then checks each RPC's declared permission (one layer per call, not two)."""
    if settings.auth is None:
        return []
    verifier = TokenVerifier(settings.auth, policy=policy)
    return [
        AuthenticationInterceptor(
            verifier, reflection_open=settings.reflection, authorization=policy
        )
    ]


def call_tokens(metadata: Any) -> tuple[str, bool]:
    """The bearer token of a call's metadata and whether a subject token came too, in one pass
    (the common call has one entry to find); Unauthenticated when the bearer token is missing
    or malformed."""
    bearer: str | None = None
    bearers = subjects = 0
    for key, value in metadata or ():
        if key == "authorization":
            bearers += 1
            bearer = value
        elif key == SUBJECT_TOKEN_HEADER:
            subjects += 1
    if bearers != 1 or not isinstance(bearer, str):
        bearer = bearer_token(metadata)  # the precise refusal
    elif bearer[: len(_SCHEME)].lower() != _SCHEME:
        bearer = bearer_token(metadata)
    else:
        bearer = bearer[len(_SCHEME) :].strip()
    return bearer, subjects > 0


def bearer_token(metadata: Any) -> str:
    """The token of the call's one ``authorization: Bearer …`` entry; Unauthenticated if none."""
    values = [value for key, value in (metadata or ()) if key == "authorization"]
    if not values:
        raise Unauthenticated(
            "no bearer token: send `authorization: Bearer <token>`", reason=Reason.TOKEN_MISSING
        )
    if len(values) > 1 or not isinstance(values[0], str):
        raise Unauthenticated(
            "send exactly one `authorization: Bearer <token>` entry", reason=Reason.TOKEN_MALFORMED
        )
    value: str = values[0]
    if value[: len(_SCHEME)].lower() != _SCHEME:
        raise Unauthenticated(
            "the authorization metadata is not `Bearer <token>`", reason=Reason.TOKEN_MALFORMED
        )
    return value[len(_SCHEME) :].strip()


def subject_token(metadata: Any) -> str | None:
    """The token of the call's ``x-fundledger-subject-token`` entry; None when there is none."""
    values = [value for key, value in (metadata or ()) if key == SUBJECT_TOKEN_HEADER]
    if not values:
        return None
    if len(values) > 1 or not isinstance(values[0], str) or not values[0].strip():
        raise _subject_refused("send exactly one non-empty subject token")
    value: str = values[0]
    return value.strip()


def _subject_refused(
    why: str, reason: Reason = Reason.TOKEN_INVALID, cause: str = ""
) -> Unauthenticated:
    """``check=subject_token`` says which token failed; ``cause`` why (the verifier's check)."""
    metadata = {"check": "subject_token"}
    if cause:
        metadata["cause"] = cause
    return Unauthenticated(
        f"the subject token ({SUBJECT_TOKEN_HEADER}) was refused: {why}",
        reason=reason,
        metadata=metadata,
    )


async def acting_for(verifier: TokenVerifier, caller: Principal, token: str) -> Principal:
    """The person ``token`` proves, acted for by the service ``caller``: their roles and tenant,
    ``actor`` = the service's subject, valid while both tokens are."""
    if caller.kind is not PrincipalKind.SERVICE:
        raise _subject_refused("only a service may act for a person")
    try:
        person = await verifier.verify(token)
    except Unauthenticated as err:
        if err.reason is Reason.TOKEN_EXPIRED:
            raise _subject_refused("it has expired", Reason.TOKEN_EXPIRED) from None
        # The verifier's message and check say what failed; neither holds the token.
        cause = err.metadata.get("check") or err.reason.value.lower()
        raise _subject_refused(err.message, cause=cause) from None
    if person.kind is not PrincipalKind.PERSON:
        raise _subject_refused("it is not a person's token")
    return replace(
        person, actor=caller.subject, expires_at=min(person.expires_at, caller.expires_at)
    )


class AuthenticationInterceptor(WrappingInterceptor):
    """Verifies the caller's token and, with ``authorization`` (the policy), checks the RPC's
    declared permission in the same guard, before the handler runs."""

    def __init__(
        self,
        verifier: TokenVerifier,
        *,
        reflection_open: bool = True,
        authorization: PolicySource | None = None,
    ) -> None:
        self.verifier = verifier
        self._reflection_open = reflection_open
        self._authorization = authorization
        super().__init__()

    def is_open(self, method: str) -> bool:
        """Whether ``method`` is served without a token."""
        return method.startswith(HEALTH_PREFIX) or (
            self._reflection_open and method.startswith(REFLECTION_PREFIX)
        )

    def _wrap(self, method: str, handler: Any) -> Any:
        if self.is_open(method):
            return handler
        verifier = self.verifier
        inner = handler
        if handler.response_streaming:
            inner = _expiring(wrap_handler(handler, no_guard), verifier.leeway_seconds, method)
        rule = None if self._authorization is None else Rule.of(method, self._authorization)
        return wrap_handler(inner, lambda context: _Authenticate(context, verifier, method, rule))


class _Authenticate:
    """The guard: verify the call's token, check the RPC's permission, then run the handler as
    the principal (with the policy in force for require()). Context variables are set and reset
    directly: this runs on every call of every RPC."""

    __slots__ = ("_acting", "_context", "_forwarding", "_in_force", "_method", "_rule", "_verifier")

    def __init__(
        self, context: Any, verifier: TokenVerifier, method: str, rule: Rule | None
    ) -> None:
        self._context = context
        self._verifier = verifier
        self._method = method
        self._rule = rule
        self._acting: Token[Principal | None] | None = None
        self._forwarding: Token[str | None] | None = None
        self._in_force: Token[Rule | None] | None = None

    async def __aenter__(self) -> None:
        try:
            metadata = self._context.invocation_metadata()
            token, has_subject = call_tokens(metadata)
            principal = await self._verifier.verify(token)
            subject = subject_token(metadata) if has_subject else None
            if subject is not None:
                principal = await acting_for(self._verifier, principal, subject)
                person: str | None = subject
            else:
                person = token if principal.kind is PrincipalKind.PERSON else None
        except Unauthenticated as err:
            # Counted and logged with the reason and which check failed; never the token nor
            # its claims.
            record_denial(
                logger,
                f"call refused: {err.reason.value}",
                self._method,
                err.reason,
                fields={"grpc_method": self._method, "check": err.metadata.get("check", "")},
            )
            raise
        rule = self._rule
        if rule is not None:
            refused = authorize(rule, principal)
            if refused is not None:
                raise refused
            self._in_force = enter_rule(rule)
        self._acting = enter_principal(principal)
        self._forwarding = enter_person_token(person)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # A stream closed from another context (the loop's generator finalizer) cannot reset
        # the variables, and has nothing to reset there.
        try:
            if self._forwarding is not None:
                leave_person_token(self._forwarding)
            if self._acting is not None:
                leave_principal(self._acting)
            if self._in_force is not None:
                leave_rule(self._in_force)
        except ValueError:
            pass


def _expiring(handler: Any, leeway_seconds: int, method: str) -> Any:
    """A streaming handler that ends UNAUTHENTICATED once the caller's token expires.

    ``handler`` comes from ``wrap_handler``, so its behavior is an async generator whatever the
    service's style was.
    """
    behavior = handler.stream_stream if handler.request_streaming else handler.unary_stream

    async def streaming(request: Any, context: Any) -> AsyncIterator[Any]:
        principal = current_principal()
        if principal is None:  # not reached: the guard outside sets it
            raise RuntimeError("no principal for an authenticated stream")
        loop = asyncio.get_running_loop()
        # The token's expiry is wall-clock time; the timer runs on the loop's clock.
        left = principal.expires_at.timestamp() + leeway_seconds - time.time()
        deadline = loop.time() + left
        async with aclosing(behavior(request, context)) as responses:
            while True:
                if loop.time() >= deadline:
                    raise _stream_expired(method)
                timeout = asyncio.timeout_at(deadline)
                try:
                    async with timeout:
                        response = await anext(responses)
                except StopAsyncIteration:
                    return
                except TimeoutError:
                    if timeout.expired():
                        raise _stream_expired(method) from None
                    raise
                yield response

    factory = (
        grpc.stream_stream_rpc_method_handler
        if handler.request_streaming
        else grpc.unary_stream_rpc_method_handler
    )
    return factory(
        streaming,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


def _stream_expired(method: str) -> Unauthenticated:
    record_denial(
        logger,
        "stream ended: its token expired",
        method,
        Reason.TOKEN_EXPIRED,
        fields={"grpc_method": method},
    )
    return Unauthenticated(
        "the bearer token expired during the stream: reconnect with a fresh token",
        reason=Reason.TOKEN_EXPIRED,
    )
