"""The dev token issuer: one key made once, a public JWKS, tokens that verify, rotation, CLI."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import jwt
import pytest
from fundledger_devstack.dev_issuer import ALGORITHM, DevIssuer, main


def verify(issuer: DevIssuer, token: str, audience: str, kind: str = "person") -> dict[str, object]:
    """Checks a token the way a server does: the JWKS file, the header's kid, ES256 only."""
    kid = jwt.get_unverified_header(token)["kid"]
    jwks = json.loads(issuer.jwks_path.read_text())
    key = jwt.PyJWK(next(k for k in jwks["keys"] if k["kid"] == kid), ALGORITHM)
    claims: dict[str, object] = jwt.decode(
        token,
        key,
        algorithms=[ALGORITHM],
        audience=audience,
        issuer=issuer.issuer_for(kind),
        options={"require": ["exp", "iss", "aud", "sub"]},
    )
    return claims


def test_the_key_is_made_once_and_kept_private(tmp_path: Path) -> None:
    first = DevIssuer(tmp_path)
    kid = first.signing_kid
    assert DevIssuer(tmp_path).signing_kid == kid  # the second start reuses it
    pem = tmp_path / "keys" / f"{kid}.pem"
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600
    document = json.loads(first.jwks_path.read_text())
    (key,) = document["keys"]
    assert key["kid"] == kid
    assert (key["kty"], key["crv"], key["alg"], key["use"]) == ("EC", "P-256", "ES256", "sig")
    assert "d" not in key


def test_minted_tokens_carry_the_requested_identity(tmp_path: Path) -> None:
    issuer = DevIssuer(tmp_path)
    token = issuer.mint(
        "alice", "fundledger-event-store", roles=["fund-manager"], tenant="acme", ttl_seconds=60
    )
    claims = verify(issuer, token, "fundledger-event-store")
    assert claims["sub"] == "alice"
    assert claims["roles"] == ["fund-manager"]
    assert claims["tenant"] == "acme"
    assert int(str(claims["exp"])) - int(str(claims["iat"])) == 60
    service = issuer.mint("system:serviceaccount:fundledger:projector", "a", kind="service")
    assert verify(issuer, service, "a", kind="service")["iss"] == f"{issuer.issuer}/services"
    with pytest.raises(ValueError, match="ttl above"):
        issuer.mint("alice", "a", ttl_seconds=10**6)
    with pytest.raises(ValueError, match="kind must be"):
        issuer.mint("alice", "a", kind="robot")


def test_rotation_keeps_old_keys_published_until_retired(tmp_path: Path) -> None:
    issuer = DevIssuer(tmp_path)
    old = issuer.signing_kid
    old_token = issuer.mint("alice", "a")
    new = issuer.rotate()
    assert issuer.signing_kid == new != old
    assert issuer.kids() == [old, new]
    assert jwt.get_unverified_header(issuer.mint("bob", "a"))["kid"] == new
    verify(issuer, old_token, "a")
    with pytest.raises(ValueError, match="rotate to a new signing key"):
        issuer.retire(new)
    issuer.retire(old)
    assert [k["kid"] for k in json.loads(issuer.jwks_path.read_text())["keys"]] == [new]


def test_the_issuers_file_trusts_both_kinds_with_asymmetric_keys_only(tmp_path: Path) -> None:
    issuer = DevIssuer(tmp_path)
    document = json.loads(issuer.write_issuers_file().read_text())
    entries = {entry["kind"]: entry for entry in document["issuers"]}
    assert set(entries) == {"person", "service"}
    for entry in entries.values():
        assert entry["algorithms"] == ["ES256"]
        assert entry["jwks_file"] == str(issuer.jwks_path)
        assert (entry["tenant_claim"], entry["roles_claim"]) == ("tenant", "roles")


def test_the_cli_mints_a_token(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--dir", str(tmp_path), "init"]) == 0
    assert "issuers.json" in capsys.readouterr().out
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "fundledger_devstack.dev_issuer",
            "--dir",
            str(tmp_path),
            "mint",
            "--sub",
            "alice",
            "--aud",
            "fundledger-event-store",
            "--role",
            "fund-manager",
            "--role",
            "analyst",
            "--tenant",
            "acme",
            "--ttl",
            "120",
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    claims = verify(DevIssuer(tmp_path), result.stdout.strip(), "fundledger-event-store")
    assert claims["roles"] == ["fund-manager", "analyst"]
    assert main(["--dir", str(tmp_path), "retire", "--kid", "nope"]) == 2
