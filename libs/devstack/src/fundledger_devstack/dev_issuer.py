"""A development token issuer: an ES256 signing key, its JWKS file, and tokens minted with it.

For the local stack and tests only (the keys sit unencrypted on disk). It plays both issuers a
deployment trusts, with two ``iss`` values that share one key set:

- people (``<issuer>/people``): what an OIDC identity provider would issue;
- services (``<issuer>/services``): what the Kubernetes API server issues as projected
  ServiceAccount tokens.

Layout of its directory (by default ``.stack/auth/``)::

    keys/<kid>.pem      private signing keys (0600); <kid> is the key's RFC 7638 thumbprint
    signing-kid         which key signs new tokens
    jwks.json           the public keys of every key in keys/ (what servers verify with)
    issuers.json        an issuers file for FUNDLEDGER_AUTH_ISSUERS_FILE

Rotation: ``rotate()`` adds a new signing key and keeps the old ones published, so tokens
already out stay valid; ``retire(kid)`` removes a key (its tokens are refused from then on).

    python -m fundledger_devstack.dev_issuer init
    python -m fundledger_devstack.dev_issuer mint --sub alice --aud fundledger-event-store \\
        --role fund-manager --tenant acme --ttl 3600
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from fundledger_devstack.stack_config import default_stack_dir

__all__ = ["ALGORITHM", "DEFAULT_ISSUER", "DevIssuer", "default_directory", "main"]

ALGORITHM = "ES256"
DEFAULT_ISSUER = "https://dev-issuer.fundledger.local"
TENANT_CLAIM = "tenant"
ROLES_CLAIM = "roles"
KINDS = ("person", "service")
MAX_TTL_SECONDS = 24 * 3600


def default_directory() -> Path:
    return default_stack_dir() / "auth"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _thumbprint(public_jwk: Mapping[str, Any]) -> str:
    """RFC 7638: SHA-256 of the required members in lexical order, no whitespace."""
    required = {name: public_jwk[name] for name in ("crv", "kty", "x", "y")}
    canonical = json.dumps(required, separators=(",", ":"), sort_keys=True)
    return _b64(hashlib.sha256(canonical.encode()).digest())


def _public_jwk(key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(key.public_key()))
    jwk["kid"] = _thumbprint(jwk)
    jwk["alg"] = ALGORITHM
    jwk["use"] = "sig"
    return jwk


def _write_atomically(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Readers (servers watching the file) see the old or the new content, never half."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(temporary, path)


class DevIssuer:
    """The dev issuer kept in ``directory`` (created with a first key on first use)."""

    def __init__(self, directory: Path | None = None, *, issuer: str = DEFAULT_ISSUER) -> None:
        self.directory = (directory or default_directory()).absolute()
        self.issuer = issuer.rstrip("/")
        self._keys_dir = self.directory / "keys"
        self._keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not self._signing_kid_path.exists():
            self.rotate()
        elif not self.jwks_path.exists():
            self._publish()

    # -- files ---------------------------------------------------------------------------------

    @property
    def jwks_path(self) -> Path:
        return self.directory / "jwks.json"

    @property
    def issuers_path(self) -> Path:
        return self.directory / "issuers.json"

    @property
    def _signing_kid_path(self) -> Path:
        return self.directory / "signing-kid"

    def issuer_for(self, kind: str) -> str:
        """The ``iss`` of tokens for people or for services."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        return f"{self.issuer}/{'people' if kind == 'person' else 'services'}"

    def issuers_document(self, jwks_path: Path | None = None) -> dict[str, Any]:
        """What FUNDLEDGER_AUTH_ISSUERS_FILE should hold to trust this issuer."""
        jwks = str(jwks_path or self.jwks_path)
        return {
            "issuers": [
                {
                    "issuer": self.issuer_for(kind),
                    "jwks_file": jwks,
                    "algorithms": [ALGORITHM],
                    "kind": kind,
                    "tenant_claim": TENANT_CLAIM,
                    "roles_claim": ROLES_CLAIM,
                }
                for kind in KINDS
            ]
        }

    def write_issuers_file(self, path: Path | None = None) -> Path:
        """An issuers file trusting this issuer (people and services); returns its path."""
        target = path or self.issuers_path
        target.parent.mkdir(parents=True, exist_ok=True)
        _write_atomically(target, json.dumps(self.issuers_document(), indent=2).encode() + b"\n")
        return target

    # -- keys ----------------------------------------------------------------------------------

    @property
    def signing_kid(self) -> str:
        return self._signing_kid_path.read_text().strip()

    def kids(self) -> list[str]:
        """Every key id, oldest first (the order of the JWKS file; new keys at its end)."""
        present = {path.stem for path in self._keys_dir.glob("*.pem")}
        try:
            published = json.loads(self.jwks_path.read_text())["keys"]
            ordered = [key["kid"] for key in published if key.get("kid") in present]
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            ordered = []
        return ordered + sorted(present - set(ordered))

    def _private_key(self, kid: str) -> ec.EllipticCurvePrivateKey:
        key = serialization.load_pem_private_key((self._keys_dir / f"{kid}.pem").read_bytes(), None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"key {kid} is not an EC key")
        return key

    def rotate(self) -> str:
        """A new signing key; the previous keys stay published. Returns the new kid."""
        key = ec.generate_private_key(ec.SECP256R1())
        kid = str(_public_jwk(key)["kid"])
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        _write_atomically(self._keys_dir / f"{kid}.pem", pem, mode=0o600)
        self._publish()  # the key is published before anything is signed with it
        _write_atomically(self._signing_kid_path, kid.encode() + b"\n")
        return kid

    def retire(self, kid: str) -> None:
        """Stop publishing (and using) a key: tokens it signed are refused from now on."""
        if kid == self.signing_kid:
            raise ValueError("rotate to a new signing key before retiring the current one")
        (self._keys_dir / f"{kid}.pem").unlink()
        self._publish()

    def _publish(self) -> None:
        keys = [_public_jwk(self._private_key(kid)) for kid in self.kids()]
        _write_atomically(self.jwks_path, json.dumps({"keys": keys}, indent=2).encode() + b"\n")

    # -- tokens --------------------------------------------------------------------------------

    def mint(
        self,
        subject: str,
        audience: str | Sequence[str],
        *,
        roles: Sequence[str] = (),
        tenant: str | None = None,
        kind: str = "person",
        ttl_seconds: float = 3600,
        not_before: float | None = None,
        kid: str | None = None,
        extra_claims: Mapping[str, Any] | None = None,
    ) -> str:
        """A signed JWT for ``subject`` (``kid`` picks a published key other than the signing
        one, for tests of rotation). ``ttl_seconds`` may be negative: an expired token."""
        if ttl_seconds > MAX_TTL_SECONDS:
            raise ValueError(f"ttl above {MAX_TTL_SECONDS} s: mint a new token instead")
        now = time.time()
        claims: dict[str, Any] = {
            "iss": self.issuer_for(kind),
            "sub": subject,
            "aud": audience if isinstance(audience, str) else list(audience),
            "iat": int(min(now, now + ttl_seconds - 1)),
            "nbf": int(now if not_before is None else not_before),
            "exp": int(now + ttl_seconds),
            "jti": uuid.uuid4().hex,
        }
        if roles:
            claims[ROLES_CLAIM] = list(roles)
        if tenant is not None:
            claims[TENANT_CLAIM] = tenant
        claims.update(extra_claims or {})
        kid = kid or self.signing_kid
        token: str = jwt.encode(
            claims, self._private_key(kid), algorithm=ALGORITHM, headers={"kid": kid}
        )
        return token


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fundledger_devstack.dev_issuer",
        description="The dev token issuer: keys, JWKS and tokens for local runs and tests.",
    )
    parser.add_argument("--dir", type=Path, default=None, help="default: <stack dir>/auth")
    parser.add_argument("--issuer", default=DEFAULT_ISSUER)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("init", help="create the key, JWKS and issuers files; print their paths")
    mint = commands.add_parser("mint", help="print a signed token")
    mint.add_argument("--sub", required=True, help="subject (user id or service account)")
    mint.add_argument("--aud", required=True, action="append", help="audience (repeatable)")
    mint.add_argument("--role", action="append", default=[], help="role (repeatable)")
    mint.add_argument("--tenant", default=None)
    mint.add_argument("--kind", choices=KINDS, default="person")
    mint.add_argument("--ttl", type=float, default=3600.0, help="seconds (default 3600)")
    commands.add_parser("rotate", help="add a new signing key (old keys stay published)")
    retire = commands.add_parser("retire", help="withdraw a key")
    retire.add_argument("--kid", required=True)
    args = parser.parse_args(argv)

    issuer = DevIssuer(args.dir, issuer=args.issuer)
    try:
        if args.command == "init":
            print(f"jwks:    {issuer.jwks_path}")
            print(f"issuers: {issuer.write_issuers_file()}")
        elif args.command == "mint":
            audience = args.aud[0] if len(args.aud) == 1 else args.aud
            print(
                issuer.mint(
                    args.sub,
                    audience,
                    roles=args.role,
                    tenant=args.tenant,
                    kind=args.kind,
                    ttl_seconds=args.ttl,
                )
            )
        elif args.command == "rotate":
            print(issuer.rotate())
        elif args.command == "retire":
            issuer.retire(args.kid)
    except (ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
