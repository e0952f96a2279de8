"""The token verifier on its own: real ES256 keys from the dev issuer, real JWKS files and a real
local HTTP server for JWKS URLs. The servers' tests (test_authentication.py) cover the wire."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path

import pytest
from fundledger_devstack.dev_issuer import DevIssuer
from fundledger_platform.auth.keys import FileKeySet, UrlKeySet, parse_jwks
from fundledger_platform.auth.principal import PrincipalKind
from fundledger_platform.auth.settings import AuthSettings, IssuerConfig
from fundledger_platform.auth.verifier import TokenVerifier
from fundledger_platform.errors import Unauthenticated

from tests.support.auth import auth_settings, bad_tokens

AUDIENCE = "fundledger-probe"


@pytest.fixture
def issuer(tmp_path: Path) -> DevIssuer:
    return DevIssuer(tmp_path / "issuer")


def reason_of(err: pytest.ExceptionInfo[Unauthenticated]) -> str:
    return err.value.reason.value


async def test_a_valid_token_becomes_a_principal(issuer: DevIssuer) -> None:
    verifier = TokenVerifier(auth_settings(issuer, AUDIENCE))
    token = issuer.mint(
        "alice", [AUDIENCE, "other"], roles=["fund-manager", "analyst"], tenant="acme"
    )
    principal = await verifier.verify(token)
    assert principal.subject == "alice"
    assert principal.issuer == issuer.issuer_for("person")
    assert principal.kind is PrincipalKind.PERSON
    assert principal.tenant == "acme"
    assert principal.roles == {"fund-manager", "analyst"}
    assert principal.claims["aud"] == [AUDIENCE, "other"]
    service = await verifier.verify(
        issuer.mint("system:serviceaccount:fundledger:projector", AUDIENCE, kind="service")
    )
    assert service.kind is PrincipalKind.SERVICE
    assert service.tenant is None
    assert service.roles == frozenset()


async def test_every_bad_token_is_refused_with_its_reason(
    issuer: DevIssuer, tmp_path: Path
) -> None:
    verifier = TokenVerifier(auth_settings(issuer, AUDIENCE))
    for name, (token, reason) in bad_tokens(tmp_path, AUDIENCE, issuer).all().items():
        with pytest.raises(Unauthenticated) as err:
            await verifier.verify(token)
        assert reason_of(err) == reason, name
        assert token not in err.value.message, name
    assert verifier.signature_checks <= 5  # the rest were refused before any signature check


async def test_checks_are_named(issuer: DevIssuer, tmp_path: Path) -> None:
    verifier = TokenVerifier(auth_settings(issuer, AUDIENCE))
    tokens = bad_tokens(tmp_path, AUDIENCE, issuer)
    expected = {
        "wrong_issuer": "issuer",
        "wrong_audience": "audience",
        "bad_signature": "signature",
        "alg_none": "algorithm",
        "hs256_key_confusion": "algorithm",
        "unknown_kid": "key",
        "not_yet_valid": "not_before",
        "missing_sub": "claims",
    }
    everything = tokens.all()
    for name, check in expected.items():
        with pytest.raises(Unauthenticated) as err:
            await verifier.verify(everything[name][0])
        assert err.value.metadata["check"] == check, name


async def test_verified_tokens_are_cached_until_they_expire(issuer: DevIssuer) -> None:
    verifier = TokenVerifier(auth_settings(issuer, AUDIENCE))
    token = issuer.mint("alice", AUDIENCE)
    for _ in range(100):
        assert (await verifier.verify(token)).subject == "alice"
    assert verifier.signature_checks == 1
    await verifier.verify(issuer.mint("bob", AUDIENCE))
    assert verifier.signature_checks == 2


async def test_a_cached_token_expires_with_its_exp(issuer: DevIssuer) -> None:
    now = [1_000.0]
    verifier = TokenVerifier(auth_settings(issuer, AUDIENCE), clock=lambda: now[0])
    token = issuer.mint("alice", AUDIENCE, ttl_seconds=600)
    principal = await verifier.verify(token)
    now[0] = principal.expires_at.timestamp() + 1  # the cache's clock passes exp
    with pytest.raises(Unauthenticated) as err:
        await verifier.verify(token)
    assert reason_of(err) == "TOKEN_EXPIRED"


async def test_the_cache_is_bounded(issuer: DevIssuer) -> None:
    verifier = TokenVerifier(replace(auth_settings(issuer, AUDIENCE), token_cache_size=2))
    first, second, third = (issuer.mint(name, AUDIENCE) for name in ("a", "b", "c"))
    for token in (first, second, third, third, second):
        await verifier.verify(token)
    assert verifier.signature_checks == 3
    await verifier.verify(first)  # evicted (least recently used): verified again
    assert verifier.signature_checks == 4


def file_keyed(issuer: DevIssuer, check_seconds: float) -> tuple[TokenVerifier, FileKeySet]:
    settings = auth_settings(issuer, AUDIENCE)
    keys = FileKeySet(issuer.jwks_path, check_seconds=check_seconds)
    verifier = TokenVerifier(settings, key_sets={c.issuer: keys for c in settings.issuers})
    return verifier, keys


async def test_a_new_key_is_accepted_once_the_jwks_file_has_it(issuer: DevIssuer) -> None:
    # The file is not looked at again on its own for an hour: only an unknown kid makes it.
    verifier, keys = file_keyed(issuer, check_seconds=3600.0)
    old_token = issuer.mint("alice", AUDIENCE)
    await verifier.verify(old_token)
    assert keys.loads == 1
    issuer.rotate()  # a new signing key, published next to the old one
    assert (await verifier.verify(issuer.mint("carol", AUDIENCE))).subject == "carol"
    assert keys.loads == 2
    assert (await verifier.verify(old_token)).subject == "alice"  # the old key is still there


async def test_a_withdrawn_key_is_refused_even_for_cached_tokens(issuer: DevIssuer) -> None:
    verifier, _ = file_keyed(issuer, check_seconds=0.0)
    old_kid = issuer.signing_kid
    cached = issuer.mint("alice", AUDIENCE)
    await verifier.verify(cached)
    issuer.rotate()
    unseen = issuer.mint("bob", AUDIENCE, kid=old_kid)
    issuer.retire(old_kid)
    for token in (cached, unseen):
        with pytest.raises(Unauthenticated) as err:
            await verifier.verify(token)
        assert err.value.metadata["check"] == "key"
    assert (await verifier.verify(issuer.mint("carol", AUDIENCE))).subject == "carol"


async def test_an_unusable_jwks_file_keeps_the_last_good_keys(issuer: DevIssuer) -> None:
    verifier, _ = file_keyed(issuer, check_seconds=0.0)
    await verifier.verify(issuer.mint("alice", AUDIENCE))
    issuer.jwks_path.write_text("{half a file")
    assert (await verifier.verify(issuer.mint("bob", AUDIENCE))).subject == "bob"
    issuer.jwks_path.unlink()
    assert (await verifier.verify(issuer.mint("carol", AUDIENCE))).subject == "carol"


def test_only_public_signing_keys_are_kept() -> None:
    keys = parse_jwks(
        {
            "keys": [
                {"kty": "oct", "kid": "secret", "k": "c2VjcmV0"},
                {"kty": "EC", "kid": "enc", "use": "enc", "crv": "P-256", "x": "a", "y": "b"},
                {"kty": "EC", "kid": "private", "crv": "P-256", "x": "a", "y": "b", "d": "c"},
                {"kty": "EC", "kid": "good", "crv": "P-256", "x": "a", "y": "b"},
                "junk",
            ]
        }
    )
    assert list(keys) == ["good"]
    with pytest.raises(ValueError, match="not a JWKS"):
        parse_jwks({"keys": "no"})


# -- keys from a URL --------------------------------------------------------------------------


class _JwksServer:
    """A real HTTP server answering GET with the JWKS file's content, or failing on demand."""

    def __init__(self, jwks_path: Path) -> None:
        self.jwks_path = jwks_path
        self.failing = False
        self.requests = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests += 1
                if outer.failing:
                    self.send_error(503)
                    return
                body = outer.jwks_path.read_bytes()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> _JwksServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def jwks_server(issuer: DevIssuer) -> Iterator[_JwksServer]:
    with _JwksServer(issuer.jwks_path) as server:
        yield server


def url_settings(issuer: DevIssuer, url: str, min_refetch: float) -> AuthSettings:
    return AuthSettings(
        audience=AUDIENCE,
        issuers=(
            IssuerConfig(
                issuer=issuer.issuer_for("person"),
                algorithms=("ES256",),
                kind=PrincipalKind.PERSON,
                jwks_url=url,
            ),
        ),
        leeway_seconds=0,
        jwks_min_refetch_seconds=min_refetch,
    )


async def test_url_keys_a_failed_fetch_keeps_the_last_good_set(
    issuer: DevIssuer, jwks_server: _JwksServer
) -> None:
    verifier = TokenVerifier(url_settings(issuer, jwks_server.url, min_refetch=0.0))
    assert (await verifier.verify(issuer.mint("alice", AUDIENCE))).subject == "alice"
    assert jwks_server.requests == 1
    jwks_server.failing = True
    stranger_kid = bad_tokens(issuer.directory.parent, AUDIENCE, issuer).unknown_kid()
    with pytest.raises(Unauthenticated):
        await verifier.verify(stranger_kid)  # unknown kid: refetch, which fails
    assert jwks_server.requests == 2
    # The keys fetched before still verify new tokens.
    assert (await verifier.verify(issuer.mint("bob", AUDIENCE))).subject == "bob"
    jwks_server.failing = False
    new_kid = issuer.rotate()
    token = issuer.mint("carol", AUDIENCE, kid=new_kid)
    assert (await verifier.verify(token)).subject == "carol"  # unknown kid: refetched


async def test_url_keys_unknown_kids_refetch_at_most_once_per_interval(
    issuer: DevIssuer, jwks_server: _JwksServer, tmp_path: Path
) -> None:
    verifier = TokenVerifier(url_settings(issuer, jwks_server.url, min_refetch=3600.0))
    await verifier.verify(issuer.mint("alice", AUDIENCE))
    forged = bad_tokens(tmp_path, AUDIENCE, issuer)
    for _ in range(20):
        with pytest.raises(Unauthenticated):
            await verifier.verify(forged.unknown_kid())
    assert jwks_server.requests == 1  # the first fetch only: forged kids cannot hammer the IdP


async def test_url_keys_concurrent_first_calls_share_one_fetch(
    issuer: DevIssuer, jwks_server: _JwksServer
) -> None:
    import asyncio

    keys = UrlKeySet(jwks_server.url, min_refetch_seconds=3600.0)
    kid = issuer.signing_kid
    found = await asyncio.gather(*(keys.get(kid) for _ in range(10)))
    assert all(jwk is not None and jwk["kid"] == kid for jwk in found)
    assert jwks_server.requests == 1


async def test_url_keys_unreachable_at_first_refuses_tokens(issuer: DevIssuer) -> None:
    verifier = TokenVerifier(url_settings(issuer, "http://127.0.0.1:9/jwks", min_refetch=3600.0))
    with pytest.raises(Unauthenticated) as err:
        await verifier.verify(issuer.mint("alice", AUDIENCE))
    assert err.value.metadata["check"] == "key"


def test_jwks_document_of_the_dev_issuer_is_public(issuer: DevIssuer) -> None:
    document = json.loads(issuer.jwks_path.read_text())
    assert [key["kid"] for key in document["keys"]] == [issuer.signing_kid]
    assert "d" not in document["keys"][0]
    assert parse_jwks(document).keys() == {issuer.signing_kid}


class _Bindings:
    """A policy's claims side, as the authorization policy offers it (roles_for, tenant_of)."""

    def current(self) -> _Bindings:
        return self

    def roles_for(self, claims: Mapping[str, object], issuer: str, subject: str) -> frozenset[str]:
        groups = claims.get("groups")
        return (
            frozenset({"fund-viewer"})
            if isinstance(groups, list) and "viewers" in groups
            else frozenset()
        )

    def tenant_of(self, claims: Mapping[str, object]) -> str | None:
        value = claims.get("org")
        return value if isinstance(value, str) else None


async def test_the_policy_bindings_add_roles_and_a_tenant(issuer: DevIssuer) -> None:
    verifier = TokenVerifier(auth_settings(issuer, AUDIENCE), policy=_Bindings())
    token = issuer.mint(
        "alice", AUDIENCE, roles=["analyst"], extra_claims={"groups": ["viewers"], "org": "acme"}
    )
    principal = await verifier.verify(token)
    assert principal.roles == {"analyst", "fund-viewer"}
    assert principal.tenant == "acme"
    # The issuer's own tenant claim comes first.
    other = await verifier.verify(
        issuer.mint("bob", AUDIENCE, tenant="globex", extra_claims={"org": "acme"})
    )
    assert other.tenant == "globex"
