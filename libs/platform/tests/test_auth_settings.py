"""Authentication settings: off by default, the issuers file parsed strictly (no HMAC, no none)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fundledger_platform.auth.client import TokenSource, client_token_source_from_env
from fundledger_platform.auth.principal import PrincipalKind
from fundledger_platform.auth.settings import AuthSettings, load_issuers, parse_issuers
from fundledger_platform.settings import ServerSettings

GOOD = {
    "issuer": "https://idp.example.com/realms/fl",
    "jwks_url": "https://idp.example.com/realms/fl/certs",
    "algorithms": ["RS256", "PS256"],
    "kind": "person",
    "tenant_claim": "org.tenant",
    "roles_claim": "realm_access.roles",
}

AUTH_VARIABLES = (
    "AUTH_ENABLED",
    "AUTH_AUDIENCE",
    "AUTH_ISSUERS_FILE",
    "AUTH_LEEWAY_SECONDS",
    "AUTH_MAX_TOKEN_BYTES",
    "AUTH_TOKEN_FILE",
    "REFLECTION",
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in AUTH_VARIABLES:
        monkeypatch.delenv(f"FUNDLEDGER_{name}", raising=False)


def issuers_file(tmp_path: Path, *entries: dict[str, Any], suffix: str = ".json") -> Path:
    path = tmp_path / f"issuers{suffix}"
    path.write_text(json.dumps({"issuers": list(entries)}))
    return path


def test_authentication_is_off_unless_enabled() -> None:
    settings = ServerSettings.from_env("projector", 50052, 9102)
    assert settings.auth is None
    assert settings.reflection is True


def test_enabled_reads_the_issuers_file_and_defaults_the_audience_to_the_service(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FUNDLEDGER_AUTH_ENABLED", "true")
    monkeypatch.setenv("FUNDLEDGER_AUTH_ISSUERS_FILE", str(issuers_file(tmp_path, GOOD)))
    monkeypatch.setenv("FUNDLEDGER_REFLECTION", "false")
    settings = ServerSettings.from_env("projector", 50052, 9102)
    assert settings.reflection is False
    auth = settings.auth
    assert auth is not None
    assert auth.audience == "fundledger-projector"
    assert auth.leeway_seconds == 30
    assert auth.max_token_bytes == 8192
    (issuer,) = auth.issuers
    assert issuer.issuer == GOOD["issuer"]
    assert issuer.algorithms == ("RS256", "PS256")
    assert issuer.kind is PrincipalKind.PERSON
    assert issuer.jwks_url == GOOD["jwks_url"]
    assert issuer.tenant_claim == "org.tenant"


def test_overrides_and_limits(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FUNDLEDGER_AUTH_ENABLED", "1")
    monkeypatch.setenv("FUNDLEDGER_AUTH_ISSUERS_FILE", str(issuers_file(tmp_path, GOOD)))
    monkeypatch.setenv("FUNDLEDGER_AUTH_AUDIENCE", "custom")
    monkeypatch.setenv("FUNDLEDGER_AUTH_LEEWAY_SECONDS", "5")
    monkeypatch.setenv("FUNDLEDGER_AUTH_MAX_TOKEN_BYTES", "4096")
    auth = AuthSettings.from_env("fundledger-x")
    assert auth is not None
    assert (auth.audience, auth.leeway_seconds, auth.max_token_bytes) == ("custom", 5, 4096)
    monkeypatch.setenv("FUNDLEDGER_AUTH_LEEWAY_SECONDS", "61")
    with pytest.raises(ValueError, match="FUNDLEDGER_AUTH_LEEWAY_SECONDS=61 is above"):
        AuthSettings.from_env("fundledger-x")


def test_enabled_without_an_issuers_file_stops_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FUNDLEDGER_AUTH_ENABLED", "on")
    with pytest.raises(ValueError, match="FUNDLEDGER_AUTH_ISSUERS_FILE is not set"):
        ServerSettings.from_env("projector", 50052, 9102)


def test_a_missing_issuers_file_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FUNDLEDGER_AUTH_ENABLED", "on")
    monkeypatch.setenv("FUNDLEDGER_AUTH_ISSUERS_FILE", str(tmp_path / "nope.json"))
    with pytest.raises(ValueError, match=r"issuers file .*nope\.json"):
        ServerSettings.from_env("projector", 50052, 9102)


@pytest.mark.parametrize("algorithm", ["HS256", "HS512", "hs384", "none", "None"])
def test_hmac_and_none_are_refused_in_the_config_itself(tmp_path: Path, algorithm: str) -> None:
    path = issuers_file(tmp_path, {**GOOD, "algorithms": ["RS256", algorithm]})
    with pytest.raises(ValueError, match=f"{algorithm} is refused: only asymmetric"):
        load_issuers(path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"algorithms": ["RS999"]}, "unknown algorithm 'RS999'"),
        ({"algorithms": []}, "`algorithms` must be a non-empty list"),
        ({"kind": "robot"}, "kind 'robot' is not person or service"),
        ({"jwks_file": "keys.json"}, "exactly one of `jwks_file` and `jwks_url`"),
        ({"jwks_url": None}, "exactly one of `jwks_file` and `jwks_url`"),
        ({"jwks_url": "http://idp.example.com/certs"}, "jwks_url must be https"),
        ({"audiences": ["x"]}, "unknown keys \\['audiences'\\]"),
        ({"issuer": ""}, "`issuer` must be a non-empty string"),
    ],
)
def test_bad_issuer_entries_are_refused(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    entry = {key: value for key, value in {**GOOD, **change}.items() if value is not None}
    with pytest.raises(ValueError, match=message):
        load_issuers(issuers_file(tmp_path, entry))


def test_yaml_issuers_file_with_a_relative_jwks_file(tmp_path: Path) -> None:
    path = tmp_path / "issuers.yaml"
    path.write_text(
        "issuers:\n"
        "  - issuer: https://kubernetes.default.svc.cluster.local\n"
        "    jwks_file: cluster-jwks.json\n"
        "    algorithms: [RS256]\n"
        "    kind: service\n"
        "  - issuer: http://127.0.0.1:5556/dex\n"
        "    jwks_url: http://127.0.0.1:5556/dex/keys\n"
        "    algorithms: [ES256, EdDSA]\n"
        "    kind: person\n"
    )
    service, person = load_issuers(path)
    assert service.kind is PrincipalKind.SERVICE
    assert service.jwks_file == tmp_path / "cluster-jwks.json"
    assert person.algorithms == ("ES256", "EdDSA")


def test_an_issuer_twice_and_an_empty_list_are_refused() -> None:
    with pytest.raises(ValueError, match="non-empty list of issuers"):
        parse_issuers({"issuers": []}, base_dir=Path("."))
    issuers = parse_issuers([GOOD], base_dir=Path("."))
    with pytest.raises(ValueError, match="configured twice"):
        AuthSettings(audience="a", issuers=issuers * 2)


def test_the_client_token_file_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert client_token_source_from_env() is None
    token_file = tmp_path / "token"
    token_file.write_text("first\n")
    monkeypatch.setenv("FUNDLEDGER_AUTH_TOKEN_FILE", str(token_file))
    source = client_token_source_from_env()
    assert source is not None
    assert source.token() == "first"


def test_a_token_file_is_read_again_when_it_changes(tmp_path: Path) -> None:
    """Kubernetes rewrites projected ServiceAccount tokens before they expire."""
    path = tmp_path / "token"
    path.write_text("one")
    source = TokenSource.from_file(path, check_seconds=0.0)
    assert source.token() == "one"
    replacement = tmp_path / "token.new"
    replacement.write_text("two")
    replacement.replace(path)  # how the kubelet swaps it: a new file
    assert source.token() == "two"
    path.unlink()
    assert source.token() == "two"  # unreadable: the last token is kept
    assert TokenSource.fixed(" abc ").token() == "abc"
