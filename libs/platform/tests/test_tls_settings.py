"""FUNDLEDGER_TLS_* settings: off by default, on only when complete, and every mistake a
start-up error that names the setting."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fundledger_platform.settings import ServerSettings, TlsSettings
from fundledger_platform.tls import ServerCertificates, channel_credentials

from tests.support.tls_files import Pki, make_pki

VARIABLES = (
    "CERT_FILE",
    "KEY_FILE",
    "CLIENT_CA_FILE",
    "REQUIRE_CLIENT_CERT",
    "CA_FILE",
    "CLIENT_CERT_FILE",
    "CLIENT_KEY_FILE",
)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in VARIABLES:
        monkeypatch.delenv(f"FUNDLEDGER_TLS_{name}", raising=False)
    return monkeypatch


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path)


def test_off_by_default(env: pytest.MonkeyPatch) -> None:
    tls = TlsSettings.from_env()
    assert tls == TlsSettings()
    assert not tls.server_enabled
    assert not tls.client_enabled
    assert ServerSettings.from_env("probe", 1, -1).tls == TlsSettings()


def test_all_settings(env: pytest.MonkeyPatch, pki: Pki) -> None:
    env.setenv("FUNDLEDGER_TLS_CERT_FILE", str(pki.server.cert))
    env.setenv("FUNDLEDGER_TLS_KEY_FILE", str(pki.server.key))
    env.setenv("FUNDLEDGER_TLS_CLIENT_CA_FILE", str(pki.ca.cert))
    env.setenv("FUNDLEDGER_TLS_REQUIRE_CLIENT_CERT", "true")
    env.setenv("FUNDLEDGER_TLS_CA_FILE", str(pki.ca.cert))
    env.setenv("FUNDLEDGER_TLS_CLIENT_CERT_FILE", str(pki.client.cert))
    env.setenv("FUNDLEDGER_TLS_CLIENT_KEY_FILE", str(pki.client.key))
    tls = ServerSettings.from_env("probe", 1, -1).tls
    assert tls == TlsSettings(
        cert_file=pki.server.cert,
        key_file=pki.server.key,
        client_ca_file=pki.ca.cert,
        require_client_cert=True,
        ca_file=pki.ca.cert,
        client_cert_file=pki.client.cert,
        client_key_file=pki.client.key,
    )
    assert tls.server_enabled
    assert tls.client_enabled
    assert ServerCertificates(tls).current.serial == pki.server.serial
    assert channel_credentials(tls) is not None


def test_a_client_only_needs_the_ca(env: pytest.MonkeyPatch, pki: Pki) -> None:
    env.setenv("FUNDLEDGER_TLS_CA_FILE", str(pki.ca.cert))
    tls = TlsSettings.from_env()
    assert tls.client_enabled
    assert not tls.server_enabled


@pytest.mark.parametrize(
    ("present", "missing"),
    [
        ("CERT_FILE", "KEY_FILE"),
        ("KEY_FILE", "CERT_FILE"),
        ("CLIENT_CERT_FILE", "CLIENT_KEY_FILE"),
        ("CLIENT_KEY_FILE", "CLIENT_CERT_FILE"),
    ],
)
def test_half_a_pair_is_an_error(
    env: pytest.MonkeyPatch, pki: Pki, present: str, missing: str
) -> None:
    env.setenv("FUNDLEDGER_TLS_CA_FILE", str(pki.ca.cert))
    env.setenv(f"FUNDLEDGER_TLS_{present}", str(pki.server.cert))
    with pytest.raises(
        ValueError,
        match=f"FUNDLEDGER_TLS_{present} is set but FUNDLEDGER_TLS_{missing} is not",
    ):
        TlsSettings.from_env()


def test_mutual_tls_needs_a_client_ca(env: pytest.MonkeyPatch, pki: Pki) -> None:
    env.setenv("FUNDLEDGER_TLS_CERT_FILE", str(pki.server.cert))
    env.setenv("FUNDLEDGER_TLS_KEY_FILE", str(pki.server.key))
    env.setenv("FUNDLEDGER_TLS_REQUIRE_CLIENT_CERT", "yes")
    with pytest.raises(ValueError, match="FUNDLEDGER_TLS_CLIENT_CA_FILE is not set"):
        TlsSettings.from_env()


def test_a_client_ca_alone_is_an_error(env: pytest.MonkeyPatch, pki: Pki) -> None:
    env.setenv("FUNDLEDGER_TLS_CERT_FILE", str(pki.server.cert))
    env.setenv("FUNDLEDGER_TLS_KEY_FILE", str(pki.server.key))
    env.setenv("FUNDLEDGER_TLS_CLIENT_CA_FILE", str(pki.ca.cert))
    with pytest.raises(ValueError, match="FUNDLEDGER_TLS_REQUIRE_CLIENT_CERT is off"):
        TlsSettings.from_env()


def test_a_client_ca_without_a_server_certificate_is_an_error(pki: Pki) -> None:
    with pytest.raises(ValueError, match="FUNDLEDGER_TLS_CLIENT_CA_FILE needs a server"):
        TlsSettings(client_ca_file=pki.ca.cert, require_client_cert=True)


def test_a_client_certificate_needs_a_ca(pki: Pki) -> None:
    with pytest.raises(ValueError, match="FUNDLEDGER_TLS_CLIENT_CERT_FILE needs FUNDLEDGER_TLS_CA"):
        TlsSettings(client_cert_file=pki.client.cert, client_key_file=pki.client.key)


def test_a_missing_file_names_its_setting(env: pytest.MonkeyPatch, pki: Pki) -> None:
    missing = pki.directory / "nope.key"
    env.setenv("FUNDLEDGER_TLS_CERT_FILE", str(pki.server.cert))
    env.setenv("FUNDLEDGER_TLS_KEY_FILE", str(missing))
    with pytest.raises(
        ValueError, match=re.escape(f"FUNDLEDGER_TLS_KEY_FILE={missing}: no such file")
    ):
        ServerSettings.from_env("probe", 1, -1)


def test_a_bad_require_value_names_its_setting(env: pytest.MonkeyPatch) -> None:
    env.setenv("FUNDLEDGER_TLS_REQUIRE_CLIENT_CERT", "sometimes")
    with pytest.raises(ValueError, match="FUNDLEDGER_TLS_REQUIRE_CLIENT_CERT='sometimes'"):
        TlsSettings.from_env()


def test_unusable_files_name_their_setting(pki: Pki) -> None:
    not_pem = pki.directory / "garbage.crt"
    not_pem.write_text("not a certificate\n")
    with pytest.raises(ValueError, match=r"FUNDLEDGER_TLS_CERT_FILE=.*no PEM certificate"):
        ServerCertificates(TlsSettings(cert_file=not_pem, key_file=pki.server.key))
    with pytest.raises(ValueError, match=r"FUNDLEDGER_TLS_KEY_FILE=.*not an unencrypted PEM"):
        ServerCertificates(TlsSettings(cert_file=pki.server.cert, key_file=pki.server.cert))
    with pytest.raises(
        ValueError,
        match="FUNDLEDGER_TLS_KEY_FILE does not hold the key of the certificate in "
        "FUNDLEDGER_TLS_CERT_FILE",
    ):
        ServerCertificates(TlsSettings(cert_file=pki.server.cert, key_file=pki.client.key))
    with pytest.raises(ValueError, match=r"FUNDLEDGER_TLS_CA_FILE=.*no PEM certificate"):
        channel_credentials(TlsSettings(ca_file=not_pem))
    with pytest.raises(ValueError, match="FUNDLEDGER_TLS_CLIENT_KEY_FILE does not hold the key"):
        channel_credentials(
            TlsSettings(
                ca_file=pki.ca.cert,
                client_cert_file=pki.client.cert,
                client_key_file=pki.server.key,
            )
        )


def test_keys_are_private(pki: Pki) -> None:
    for key in (pki.ca.key, pki.server.key, pki.client.key):
        assert key.stat().st_mode & 0o777 == 0o600
    assert pki.directory.stat().st_mode & 0o777 == 0o700
    # The CA is made once: issuing again reuses it.
    assert make_pki(pki.directory.parent).ca.serial == pki.ca.serial
