"""Bearer token (JWT) verification: a token in, a Principal out, or Unauthenticated.

The checks, in order, each before anything more expensive:

1. size: a token over ``max_token_bytes`` is refused before it is parsed (TOKEN_TOO_LARGE);
2. the cache of verified tokens (keyed by the token, bounded LRU, each entry until the token
   expires, and only while the issuer still publishes the key that verified it): hot RPCs pay a
   dictionary lookup, not a signature check (nor a SHA-256 of the token: hashing the string is
   several times cheaper, and the cache never leaves the process);
3. shape: three base64url parts (TOKEN_MALFORMED);
4. the *unverified* header and ``iss`` only pick what to verify with: the issuer must be
   configured, the header's ``alg`` must be one the issuer is configured for (so never
   ``none`` nor an HMAC algorithm), and its ``kid`` must name a published key
   (TOKEN_INVALID);
5. PyJWT verifies the signature with that key and exactly that algorithm, and the claims: ``iss``,
   ``aud`` containing this service's audience, ``exp``/``nbf``/``iat`` with the leeway, and
   ``exp``, ``iss``, ``aud``, ``sub`` required (TOKEN_EXPIRED, TOKEN_INVALID).

Errors never carry the token, nor a claim read from an unverified token.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import jwt

from fundledger_platform.auth.claims import claim_value
from fundledger_platform.auth.keys import JWK, KeySet, key_set_for
from fundledger_platform.auth.principal import Principal
from fundledger_platform.auth.settings import AuthSettings, IssuerConfig
from fundledger_platform.errors import Unauthenticated
from fundledger_platform.reasons import Reason

__all__ = ["ClaimsMapper", "ClaimsMapperSource", "TokenVerifier"]


class ClaimsMapper(Protocol):
    """What the authorization policy says a verified token's claims give (its bindings)."""

    def roles_for(
        self, claims: Mapping[str, object], issuer: str, subject: str
    ) -> frozenset[str]: ...

    def tenant_of(self, claims: Mapping[str, object]) -> str | None: ...


class ClaimsMapperSource(Protocol):
    """The policy in force now (it is re-read when its file changes)."""

    def current(self) -> ClaimsMapper: ...


# A JWS in compact form: header.payload.signature (the signature is empty for `alg: none`,
# which step 4 then refuses with a clear reason).
_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_REQUIRED = ["exp", "iss", "aud", "sub"]

_CHECKS = {
    "issuer": "its issuer is not trusted by this service",
    "algorithm": "its algorithm is not accepted for its issuer",
    "key": "its key id is not published by its issuer",
    "signature": "its signature does not verify",
    "audience": "it is not meant for this service (audience)",
    "not_before": "it is not valid yet",
    "claims": "a required claim (exp, iss, aud, sub) is missing or malformed",
}


def _invalid(check: str, **metadata: str) -> Unauthenticated:
    return Unauthenticated(
        f"bearer token refused: {_CHECKS[check]}",
        reason=Reason.TOKEN_INVALID,
        metadata={"check": check, **metadata},
    )


def _malformed() -> Unauthenticated:
    return Unauthenticated(
        "the bearer token is not a well-formed JWT", reason=Reason.TOKEN_MALFORMED
    )


def _expired() -> Unauthenticated:
    return Unauthenticated("the bearer token has expired", reason=Reason.TOKEN_EXPIRED)


@dataclass(frozen=True, slots=True)
class _Verified:
    principal: Principal
    valid_until: float  # epoch seconds: exp + leeway
    keys: KeySet
    kid: str | None
    jwk: JWK


class _Issuer:
    __slots__ = ("config", "keys")

    def __init__(self, config: IssuerConfig, keys: KeySet) -> None:
        self.config = config
        self.keys = keys


class TokenVerifier:
    """Verifies bearer tokens for one service (its audience, its trusted issuers)."""

    def __init__(
        self,
        settings: AuthSettings,
        *,
        key_sets: Mapping[str, KeySet] | None = None,
        policy: ClaimsMapperSource | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``policy``: the authorization policy, whose bindings add roles (and a tenant) to
        what the issuer's own ``roles_claim``/``tenant_claim`` give; None: the claims alone."""
        self.settings = settings
        self._policy = policy
        self._issuers = {
            issuer.issuer: _Issuer(
                issuer,
                (key_sets or {}).get(issuer.issuer) or key_set_for(issuer, settings),
            )
            for issuer in settings.issuers
        }
        self._clock = clock
        self._cache: OrderedDict[str, _Verified] = OrderedDict()
        self.signature_checks = 0  # tokens verified with a key (not answered from the cache)

    @property
    def leeway_seconds(self) -> int:
        return self.settings.leeway_seconds

    async def verify(self, token: str) -> Principal:
        """The Principal the token proves; Unauthenticated (with a registered reason) if none."""
        limit = self.settings.max_token_bytes
        if len(token) > limit or (not token.isascii() and len(token.encode()) > limit):
            raise Unauthenticated(
                f"the bearer token is larger than {limit} bytes",
                reason=Reason.TOKEN_TOO_LARGE,
                metadata={"max_bytes": str(limit)},
            )
        cached = self._cache.get(token)
        if cached is not None:
            if self._clock() >= cached.valid_until:
                del self._cache[token]
                raise _expired()
            key = cached.keys.current(cached.kid)
            if key is cached.jwk or key == cached.jwk:
                self._cache.move_to_end(token)
                return cached.principal
            del self._cache[token]  # its key was withdrawn: verify again (and fail)
        verified = await self._verify(token)
        if self.settings.token_cache_size > 0:
            self._cache[token] = verified
            while len(self._cache) > self.settings.token_cache_size:
                self._cache.popitem(last=False)
        return verified.principal

    async def _verify(self, token: str) -> _Verified:
        if not _COMPACT.fullmatch(token):
            raise _malformed()
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise _malformed() from None
        iss = unverified.get("iss")
        issuer = self._issuers.get(iss) if isinstance(iss, str) else None
        if issuer is None:
            raise _invalid("issuer")
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in issuer.config.algorithms:
            raise _invalid("algorithm")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise _malformed()
        jwk = await issuer.keys.get(kid)
        if jwk is None:
            raise _invalid("key")
        if jwk.get("alg", alg) != alg:
            raise _invalid("algorithm")  # the key says it is for another algorithm
        try:
            key = jwt.PyJWK(jwk, algorithm=alg)
        except jwt.PyJWTError:
            raise _invalid("key") from None  # e.g. an EC key named by an RS256 token
        self.signature_checks += 1
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                audience=self.settings.audience,
                issuer=issuer.config.issuer,
                leeway=self.settings.leeway_seconds,
                options={"require": _REQUIRED},
            )
        except jwt.ExpiredSignatureError:
            raise _expired() from None
        except jwt.ImmatureSignatureError:
            raise _invalid("not_before") from None
        except jwt.InvalidSignatureError:
            raise _invalid("signature") from None
        except jwt.InvalidAudienceError:
            raise _invalid("audience", audience=self.settings.audience) from None
        except jwt.InvalidIssuerError:
            raise _invalid("issuer") from None
        except jwt.InvalidAlgorithmError:
            raise _invalid("algorithm") from None
        except (
            jwt.MissingRequiredClaimError,
            jwt.InvalidIssuedAtError,
            jwt.exceptions.InvalidSubjectError,
            jwt.exceptions.InvalidJTIError,
        ):
            raise _invalid("claims") from None
        except jwt.DecodeError:
            raise _malformed() from None
        except jwt.PyJWTError:
            raise _invalid("claims") from None
        principal = self._principal(issuer.config, claims)
        valid_until = principal.expires_at.timestamp() + self.settings.leeway_seconds
        return _Verified(principal, valid_until, issuer.keys, kid, jwk)

    def _principal(self, issuer: IssuerConfig, claims: dict[str, Any]) -> Principal:
        subject, exp = claims.get("sub"), claims.get("exp")
        if not isinstance(subject, str) or not subject:
            raise _invalid("claims")
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            raise _invalid("claims")
        tenant: str | None = None
        if issuer.tenant_claim:
            value = claim_value(claims, issuer.tenant_claim)
            tenant = value if isinstance(value, str) and value else None
        roles: frozenset[str] = frozenset()
        if issuer.roles_claim:
            value = claim_value(claims, issuer.roles_claim)
            if isinstance(value, str):
                roles = frozenset(value.split())
            elif isinstance(value, list):
                roles = frozenset(role for role in value if isinstance(role, str) and role)
        if self._policy is not None:
            # Computed once per verification: a binding change applies when a token is next
            # verified (cached principals keep theirs until their token expires).
            policy = self._policy.current()
            roles |= policy.roles_for(claims, issuer.issuer, subject)
            tenant = tenant or policy.tenant_of(claims)
        return Principal(
            issuer=issuer.issuer,
            subject=subject,
            kind=issuer.kind,
            expires_at=datetime.fromtimestamp(exp, UTC),
            tenant=tenant,
            roles=roles,
            claims=claims,
        )
