"""A local certificate authority for the dev stack and the tests: a CA, server and client
certificates, as PEM files in one directory (``.stack/tls/`` for ``make run``).

Keys are ECDSA P-256, written 0600 (the directory 0700). Files are replaced atomically,
so a server that re-reads its certificate never sees half a file; issuing again under
the same name is how a rotation is simulated.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_CERT = "ca.crt"
CA_KEY = "ca.key"
DEFAULT_SERVER_NAMES = ("localhost", "127.0.0.1", "::1")
# A minute of slack for clocks that differ a little.
_BACKDATE = dt.timedelta(minutes=1)


@dataclass(frozen=True)
class CertFiles:
    """A certificate and its private key on disk."""

    cert: Path
    key: Path
    serial: int

    def read(self) -> tuple[bytes, bytes]:
        """(certificate PEM, key PEM)."""
        return self.cert.read_bytes(), self.key.read_bytes()


def ensure_ca(
    directory: Path, *, common_name: str = "FundLedger local CA", days: int = 365
) -> CertFiles:
    """The CA in ``directory`` (ca.crt, ca.key), created on the first call only."""
    cert_path, key_path = directory / CA_CERT, directory / CA_KEY
    if cert_path.is_file() and key_path.is_file():
        certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
        return CertFiles(cert_path, key_path, certificate.serial_number)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write(directory, key_path, _key_pem(key), private=True)
    _write(directory, cert_path, certificate.public_bytes(serialization.Encoding.PEM))
    return CertFiles(cert_path, key_path, certificate.serial_number)


def issue_server_cert(
    directory: Path,
    names: Sequence[str] = DEFAULT_SERVER_NAMES,
    *,
    stem: str = "server",
    days: int = 30,
) -> CertFiles:
    """``<stem>.crt``/``<stem>.key`` for ``names`` (DNS names or IP addresses), signed by
    the CA of ``directory`` (made if missing). Valid for server and client authentication,
    as cert-manager certificates with both usages are: a service presents the same one
    when it calls another under mutual TLS."""
    if not names:
        raise ValueError("a server certificate needs at least one name")
    alt_names: list[x509.GeneralName] = []
    for name in names:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt_names.append(x509.DNSName(name))
    return _issue(
        directory,
        stem,
        names[0],
        days,
        [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
        alt_names,
    )


def issue_client_cert(
    directory: Path, subject: str, *, stem: str | None = None, days: int = 30
) -> CertFiles:
    """A client certificate (common name ``subject``) signed by the CA of ``directory``,
    as ``<stem>.crt``/``<stem>.key`` (stem defaults to ``client-<subject>``)."""
    return _issue(
        directory,
        stem or f"client-{subject}",
        subject,
        days,
        [ExtendedKeyUsageOID.CLIENT_AUTH],
        [],
    )


def _issue(
    directory: Path,
    stem: str,
    common_name: str,
    days: int,
    usages: list[x509.ObjectIdentifier],
    alt_names: list[x509.GeneralName],
) -> CertFiles:
    ca = ensure_ca(directory)
    ca_cert = x509.load_pem_x509_certificate(ca.cert.read_bytes())
    ca_key = serialization.load_pem_private_key(ca.key.read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{ca.key} is not the local CA's EC key")
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(min(now + dt.timedelta(days=days), ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
    certificate = builder.sign(ca_key, hashes.SHA256())
    cert_path, key_path = directory / f"{stem}.crt", directory / f"{stem}.key"
    # Key first: a reader that sees the new certificate finds its key already there
    # (a reader between the two sees a mismatched pair and keeps what it had).
    _write(directory, key_path, _key_pem(key), private=True)
    _write(directory, cert_path, certificate.public_bytes(serialization.Encoding.PEM))
    return CertFiles(cert_path, key_path, certificate.serial_number)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(directory: Path, path: Path, data: bytes, *, private: bool = False) -> None:
    """Write atomically (a temp file renamed over ``path``); keys 0600 from the start."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    try:
        os.fchmod(fd, 0o600 if private else 0o644)
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, path)
