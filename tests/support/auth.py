"""Authentication in tests: a dev issuer per test, settings trusting it, and forged tokens.

Every bad token a server must refuse, made the way an attacker would make it (no mocks: the
servers verify them with the real verifier against the dev issuer's real JWKS file).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fundledger_devstack.dev_issuer import ALGORITHM, DevIssuer
from fundledger_platform.auth.settings import AuthSettings, load_issuers

BEARER = "authorization"


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    """Call metadata carrying ``token``."""
    return ((BEARER, f"Bearer {token}"),)


def auth_settings(issuer: DevIssuer, audience: str, **overrides: Any) -> AuthSettings:
    """Settings trusting ``issuer`` (people and services) for ``audience``; no leeway (tests
    of expiry need not wait it out); tokens up to 4 KiB (an oversize one still fits in gRPC's
    8 KiB of metadata, so it reaches the server's own check)."""
    settings = AuthSettings(
        audience=audience,
        issuers=load_issuers(issuer.write_issuers_file()),
        leeway_seconds=0,
        max_token_bytes=4096,
        jwks_min_refetch_seconds=0.0,
    )
    return replace(settings, **overrides)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return ".".join(
        _b64(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
    )


@dataclass(frozen=True)
class BadTokens:
    """One of each token a server must refuse, for ``audience``, and the reason it must give."""

    issuer: DevIssuer
    audience: str
    stranger: DevIssuer  # an issuer nobody trusts

    def _claims(self, **changes: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer.issuer_for("person"),
            "sub": "mallory",
            "aud": self.audience,
            "iat": now,
            "exp": now + 600,
        }
        claims.update(changes)
        return claims

    def all(self) -> dict[str, tuple[str, str]]:
        """name -> (token, expected reason)."""
        return {
            "malformed": ("not-a-jwt", "TOKEN_MALFORMED"),
            "garbage_parts": ("e30.e30e30.", "TOKEN_MALFORMED"),
            "expired": (
                self.issuer.mint("alice", self.audience, ttl_seconds=-120),
                "TOKEN_EXPIRED",
            ),
            "not_yet_valid": (
                self.issuer.mint("alice", self.audience, not_before=time.time() + 600),
                "TOKEN_INVALID",
            ),
            "wrong_issuer": (self.stranger.mint("alice", self.audience), "TOKEN_INVALID"),
            "wrong_audience": (self.issuer.mint("alice", "fundledger-other"), "TOKEN_INVALID"),
            "bad_signature": (self.bad_signature(), "TOKEN_INVALID"),
            "alg_none": (self.alg_none(), "TOKEN_INVALID"),
            "hs256_key_confusion": (self.key_confusion(), "TOKEN_INVALID"),
            "unknown_kid": (self.unknown_kid(), "TOKEN_INVALID"),
            "missing_sub": (self.missing_claim("sub"), "TOKEN_INVALID"),
            "oversize": (
                self.issuer.mint("alice", self.audience, extra_claims={"pad": "x" * 3200}),
                "TOKEN_TOO_LARGE",
            ),
        }

    def bad_signature(self) -> str:
        """The trusted issuer's kid, signed by another key."""
        other = ec.generate_private_key(ec.SECP256R1())
        kid = self.issuer.signing_kid
        return jwt.encode(self._claims(), other, algorithm=ALGORITHM, headers={"kid": kid})

    def alg_none(self) -> str:
        header = {"alg": "none", "typ": "JWT", "kid": self.issuer.signing_kid}
        return _unsigned(header, self._claims()) + "."

    def key_confusion(self) -> str:
        """HS256 with the issuer's *public* key as the HMAC secret (the classic confusion)."""
        kid = self.issuer.signing_kid
        public_pem = self.public_pem(kid)
        signing_input = _unsigned({"alg": "HS256", "typ": "JWT", "kid": kid}, self._claims())
        signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{_b64(signature)}"

    def unknown_kid(self) -> str:
        other = ec.generate_private_key(ec.SECP256R1())
        return jwt.encode(
            self._claims(), other, algorithm=ALGORITHM, headers={"kid": "no-such-key"}
        )

    def missing_claim(self, name: str) -> str:
        claims = self._claims()
        del claims[name]
        kid = self.issuer.signing_kid
        key = serialization.load_pem_private_key(
            (self.issuer.directory / "keys" / f"{kid}.pem").read_bytes(), None
        )
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": kid})

    def public_pem(self, kid: str) -> bytes:
        jwks = json.loads(self.issuer.jwks_path.read_text())
        jwk = next(key for key in jwks["keys"] if key["kid"] == kid)
        public = jwt.PyJWK(jwk).key
        return bytes(
            public.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )


def bad_tokens(root: Path, audience: str, issuer: DevIssuer | None = None) -> BadTokens:
    return BadTokens(
        issuer=issuer or DevIssuer(root / "issuer"),
        audience=audience,
        stranger=DevIssuer(root / "stranger", issuer="https://stranger.example"),
    )


def token_parts(token: str) -> list[str]:
    """The parts of a token worth looking for in logs and errors (not the generic header)."""
    parts = [part for part in token.split(".")[1:] if len(part) >= 8]
    return [token, *parts] if "." in token else [token]
