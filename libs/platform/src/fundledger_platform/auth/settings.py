"""Authentication settings: read once at start from FUNDLEDGER_AUTH_* and the issuers file.

Authentication is switched off unless ``FUNDLEDGER_AUTH_ENABLED`` says otherwise; then
``FUNDLEDGER_AUTH_ISSUERS_FILE`` names a JSON or YAML file of the issuers whose tokens this
service accepts::

    issuers:
      - issuer: https://idp.example.com/realms/fundledger   # the tokens' `iss`
        jwks_url: https://idp.example.com/realms/fundledger/protocol/openid-connect/certs
        algorithms: [RS256]
        kind: person
        tenant_claim: tenant
        roles_claim: realm_access.roles
      - issuer: https://kubernetes.default.svc.cluster.local
        jwks_file: /etc/fundledger/auth/cluster-jwks.json   # relative = next to this file
        algorithms: [RS256]
        kind: service

Only asymmetric algorithms are accepted, and the file itself is refused when it names an HMAC
algorithm or ``none``: a token's algorithm must never pick how it is checked.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from fundledger_platform.auth.principal import PrincipalKind
from fundledger_platform.settings import env_bool, env_float, env_int, env_name, env_str

__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "AuthSettings",
    "IssuerConfig",
    "load_issuers",
    "parse_issuers",
]

# What an issuer may sign with: RSA (PKCS#1 v1.5 and PSS), ECDSA and Ed25519/Ed448.
ASYMMETRIC_ALGORITHMS = frozenset(
    {
        "RS256",
        "RS384",
        "RS512",
        "PS256",
        "PS384",
        "PS512",
        "ES256",
        "ES384",
        "ES512",
        "EdDSA",
    }
)
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
_ISSUER_KEYS = frozenset(
    {
        "issuer",
        "jwks_file",
        "jwks_url",
        "jwks_ca_file",
        "algorithms",
        "kind",
        "tenant_claim",
        "roles_claim",
    }
)


@dataclass(frozen=True, slots=True)
class IssuerConfig:
    """One trusted token issuer and where its public keys are."""

    issuer: str  # the exact `iss` value of its tokens
    algorithms: tuple[str, ...]
    kind: PrincipalKind
    jwks_file: Path | None = None
    jwks_url: str | None = None
    jwks_ca_file: Path | None = None  # CA bundle for a jwks_url on a private CA (the cluster's)
    tenant_claim: str | None = None  # a claim name; dots walk into objects (`org.tenant`)
    roles_claim: str | None = None  # a list of strings or a space-separated string


@dataclass(frozen=True, slots=True)
class AuthSettings:
    """How a server authenticates its callers (present only when authentication is on)."""

    audience: str  # every token must name it in `aud`
    issuers: tuple[IssuerConfig, ...]
    leeway_seconds: int = 30  # clock skew allowed on exp/nbf/iat
    max_token_bytes: int = 8192  # bigger tokens are refused before they are parsed
    jwks_min_refetch_seconds: float = 30.0  # an unknown kid refetches a URL at most this often
    jwks_max_age_seconds: float = 600.0  # a URL key set is refreshed in the background after
    jwks_timeout_seconds: float = 5.0
    token_cache_size: int = 10_000  # verified tokens kept (LRU), each until it expires

    @classmethod
    def from_env(cls, default_audience: str) -> AuthSettings | None:
        """The settings, or None when FUNDLEDGER_AUTH_ENABLED is off (the default)."""
        if not env_bool("AUTH_ENABLED", False):
            return None
        issuers_file = env_str("AUTH_ISSUERS_FILE", "")
        if not issuers_file:
            raise ValueError(
                f"{env_name('AUTH_ENABLED')} is on but {env_name('AUTH_ISSUERS_FILE')} is not set"
            )
        return cls(
            audience=env_str("AUTH_AUDIENCE", default_audience),
            issuers=load_issuers(Path(issuers_file)),
            leeway_seconds=env_int("AUTH_LEEWAY_SECONDS", 30, min_value=0, max_value=60),
            max_token_bytes=env_int(
                "AUTH_MAX_TOKEN_BYTES", 8192, min_value=512, max_value=64 * 1024
            ),
            jwks_min_refetch_seconds=env_float(
                "AUTH_JWKS_MIN_REFETCH_SECONDS", 30.0, min_value=0.0, max_value=3600.0
            ),
            jwks_max_age_seconds=env_float(
                "AUTH_JWKS_MAX_AGE_SECONDS", 600.0, min_value=1.0, max_value=86400.0
            ),
            jwks_timeout_seconds=env_float(
                "AUTH_JWKS_TIMEOUT_SECONDS", 5.0, min_value=0.1, max_value=60.0
            ),
            token_cache_size=env_int("AUTH_TOKEN_CACHE_SIZE", 10_000, min_value=0),
        )

    def __post_init__(self) -> None:
        if not self.audience:
            raise ValueError("the authentication audience is empty")
        if not self.issuers:
            raise ValueError("authentication is on but no issuer is configured")
        if not 0 <= self.leeway_seconds <= 60:
            raise ValueError(f"leeway of {self.leeway_seconds} s is outside 0-60 s")
        names = [issuer.issuer for issuer in self.issuers]
        if len(names) != len(set(names)):
            raise ValueError("an issuer is configured twice")


def load_issuers(path: Path) -> tuple[IssuerConfig, ...]:
    """The issuers file (JSON, or YAML for .yaml/.yml); ValueError naming the file otherwise."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ValueError(f"issuers file {path}: {err.strerror or err}") from None
    try:
        document: Any = (
            yaml.safe_load(text) if path.suffix.lower() in (".yaml", ".yml") else json.loads(text)
        )
    except (ValueError, yaml.YAMLError) as err:
        raise ValueError(f"issuers file {path} is not valid JSON/YAML: {err}") from None
    try:
        return parse_issuers(document, base_dir=path.parent)
    except ValueError as err:
        raise ValueError(f"issuers file {path}: {err}") from None


def parse_issuers(document: Any, *, base_dir: Path) -> tuple[IssuerConfig, ...]:
    """The issuers of a parsed issuers file: ``{"issuers": [...]}`` or a bare list."""
    entries = document.get("issuers") if isinstance(document, Mapping) else document
    if not isinstance(entries, list) or not entries:
        raise ValueError("expected a non-empty list of issuers (`issuers: [...]`)")
    return tuple(_issuer(entry, index, base_dir) for index, entry in enumerate(entries))


def _issuer(entry: Any, index: int, base_dir: Path) -> IssuerConfig:
    where = f"issuers[{index}]"
    if not isinstance(entry, Mapping):
        raise ValueError(f"{where} is not an object")
    unknown = set(entry) - _ISSUER_KEYS
    if unknown:
        raise ValueError(f"{where} has unknown keys {sorted(map(str, unknown))}")
    issuer = _text(entry, "issuer", where, required=True)
    assert issuer is not None
    where = f"{where} ({issuer})"
    algorithms = entry.get("algorithms")
    if not isinstance(algorithms, list) or not algorithms:
        raise ValueError(f"{where}: `algorithms` must be a non-empty list")
    for algorithm in algorithms:
        if not isinstance(algorithm, str):
            raise ValueError(f"{where}: algorithm {algorithm!r} is not a string")
        if algorithm.lower() == "none" or algorithm.upper().startswith("HS"):
            raise ValueError(
                f"{where}: {algorithm} is refused: only asymmetric algorithms"
                f" ({', '.join(sorted(ASYMMETRIC_ALGORITHMS))}) verify tokens"
            )
        if algorithm not in ASYMMETRIC_ALGORITHMS:
            raise ValueError(
                f"{where}: unknown algorithm {algorithm!r}"
                f" (one of {', '.join(sorted(ASYMMETRIC_ALGORITHMS))})"
            )
    kind_text = _text(entry, "kind", where, required=True)
    try:
        kind = PrincipalKind(str(kind_text))
    except ValueError:
        raise ValueError(f"{where}: kind {kind_text!r} is not person or service") from None
    jwks_file = _text(entry, "jwks_file", where)
    jwks_url = _text(entry, "jwks_url", where)
    if (jwks_file is None) == (jwks_url is None):
        raise ValueError(f"{where}: give exactly one of `jwks_file` and `jwks_url`")
    if jwks_url is not None:
        _check_url(jwks_url, where)
    ca_file = _text(entry, "jwks_ca_file", where)
    return IssuerConfig(
        issuer=issuer,
        algorithms=tuple(dict.fromkeys(algorithms)),
        kind=kind,
        jwks_file=None if jwks_file is None else base_dir / jwks_file,
        jwks_url=jwks_url,
        jwks_ca_file=None if ca_file is None else base_dir / ca_file,
        tenant_claim=_text(entry, "tenant_claim", where),
        roles_claim=_text(entry, "roles_claim", where),
    )


def _text(entry: Mapping[str, Any], key: str, where: str, *, required: bool = False) -> str | None:
    value = entry.get(key)
    if value is None:
        if required:
            raise ValueError(f"{where}: `{key}` is required")
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where}: `{key}` must be a non-empty string")
    return value.strip()


def _check_url(url: str, where: str) -> None:
    """https, or http to this machine only (a dev issuer): keys must not travel in the clear."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme == "https" and parsed.hostname:
        return
    if parsed.scheme == "http" and parsed.hostname in _LOOPBACK_HOSTS:
        return
    raise ValueError(f"{where}: jwks_url must be https (or http to localhost): {url!r}")
