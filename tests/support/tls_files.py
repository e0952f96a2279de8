"""Certificates for TLS tests, from the dev stack's local CA: one trusted CA with a server
and a client certificate, and a second, untrusted CA with a client certificate of its own."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import ssl
from dataclasses import dataclass, replace
from pathlib import Path

from cryptography import x509
from fundledger_devstack.local_ca import CertFiles, ensure_ca, issue_client_cert, issue_server_cert
from fundledger_platform.settings import ServerSettings, TlsSettings


@dataclass(frozen=True)
class Pki:
    directory: Path
    ca: CertFiles
    server: CertFiles
    client: CertFiles
    other_ca: CertFiles  # signs nothing the servers trust
    other_client: CertFiles  # a client certificate from the other CA

    def server_tls(self, *, mutual: bool = False) -> TlsSettings:
        """A server's settings: its certificate; with ``mutual``, client certificates from
        the CA are required."""
        return TlsSettings(
            cert_file=self.server.cert,
            key_file=self.server.key,
            client_ca_file=self.ca.cert if mutual else None,
            require_client_cert=mutual,
        )

    def client_tls(self, *, cert: CertFiles | None = None, ca: Path | None = None) -> TlsSettings:
        """A caller's settings: trust ``ca`` (the CA by default), present ``cert`` if given."""
        return TlsSettings(
            ca_file=ca or self.ca.cert,
            client_cert_file=None if cert is None else cert.cert,
            client_key_file=None if cert is None else cert.key,
        )

    def rotate_server(self) -> CertFiles:
        """A newly issued server certificate and key, written over the served files."""
        return issue_server_cert(self.directory, stem="server")


def make_pki(root: Path) -> Pki:
    directory, other = root / "tls", root / "other-ca"
    ca = ensure_ca(directory)
    other_ca = ensure_ca(other, common_name="Some other CA")
    return Pki(
        directory=directory,
        ca=ca,
        server=issue_server_cert(directory),
        client=issue_client_cert(directory, "projector"),
        other_ca=other_ca,
        other_client=issue_client_cert(other, "intruder"),
    )


def with_tls(settings: ServerSettings, tls: TlsSettings) -> ServerSettings:
    return replace(settings, tls=tls)


def copy_file(source: Path, target: Path) -> None:
    """Replace ``target`` by a copy of ``source`` atomically (as a Secret update does)."""
    tmp = target.with_name(f".{target.name}.copy")
    shutil.copyfile(source, tmp)
    tmp.replace(target)


async def served_certificate(port: int, ca: Path, host: str = "127.0.0.1") -> x509.Certificate:
    """The certificate a new TLS connection to ``host:port`` is given (verified with ``ca``)."""
    context = ssl.create_default_context(cafile=str(ca))
    context.set_alpn_protocols(["h2"])
    _reader, writer = await asyncio.open_connection(
        host, port, ssl=context, server_hostname="localhost"
    )
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True)
    finally:
        writer.close()
        # The server may drop a connection that never spoke HTTP/2.
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await writer.wait_closed()
    assert der is not None
    return x509.load_der_x509_certificate(der)
