"""TLS for gRPC servers and for calls between services, following certificate rotation.

Switched off unless configured (``TlsSettings``, from ``FUNDLEDGER_TLS_*``).

- Server: ``ServerCertificates`` gives grpc dynamic credentials whose fetcher grpc
  calls before every new connection's handshake. The fetcher only stats the files
  and re-reads them when one changed, so a rotated certificate (cert-manager
  rewrites the Secret's files) applies to the next connection without a restart.
  Connections already open keep the certificate they were made with.
- Client: ``channel()`` makes a grpc.aio channel, secure when a CA is configured;
  ``ReloadingChannel`` makes a new one on the next call after the CA or the client
  certificate files changed (grpc channels never re-read them) and closes the old
  one once its calls ended.

Every set of files is checked before it is used (parseable PEM, the key matches the
certificate): at start-up a bad file stops the service with the setting's name; on a
reload it is logged and the previous certificates stay in use until the files change
again (so a pair rewritten one file at a time is picked up once both are written).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from fundledger_platform.settings import TlsSettings

__all__ = [
    "LoadedCertificate",
    "ReloadingChannel",
    "ServerCertificates",
    "channel",
    "channel_credentials",
]

logger = logging.getLogger(__name__)

StubT = TypeVar("StubT")
# os.stat of one file: enough to notice a rewrite or a Secret's symlink swap.
_Stamp = tuple[int, int, int] | None


def _stamp(paths: Sequence[Path]) -> tuple[_Stamp, ...]:
    stamps: list[_Stamp] = []
    for path in paths:
        try:
            st = os.stat(path)  # follows symlinks: Kubernetes swaps ..data under them
        except OSError:
            stamps.append(None)  # missing for a moment during a rewrite
        else:
            stamps.append((st.st_mtime_ns, st.st_size, st.st_ino))
    return tuple(stamps)


def _read(tls: TlsSettings, field_name: str) -> bytes:
    path = getattr(tls, field_name)
    assert isinstance(path, Path), field_name
    try:
        return path.read_bytes()
    except OSError as err:
        raise ValueError(f"{tls.variable(field_name)}={path}: {err.strerror}") from None


def _certificates(tls: TlsSettings, field_name: str, pem: bytes) -> list[x509.Certificate]:
    try:
        certificates = x509.load_pem_x509_certificates(pem)
    except ValueError:
        certificates = []
    if not certificates:
        raise ValueError(
            f"{tls.variable(field_name)}={getattr(tls, field_name)}: no PEM certificate in it"
        )
    return certificates


@dataclass(frozen=True)
class LoadedCertificate:
    """A certificate and its key as read from their files, checked to belong together."""

    chain: bytes
    key: bytes
    certificate: x509.Certificate

    @property
    def serial(self) -> int:
        return int(self.certificate.serial_number)


def _key_pair(tls: TlsSettings, cert_field: str, key_field: str) -> LoadedCertificate:
    chain, key_pem = _read(tls, cert_field), _read(tls, key_field)
    leaf = _certificates(tls, cert_field, chain)[0]
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        raise ValueError(
            f"{tls.variable(key_field)}={getattr(tls, key_field)}: "
            "not an unencrypted PEM private key"
        ) from None
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if key.public_key().public_bytes(der, spki) != leaf.public_key().public_bytes(der, spki):
        raise ValueError(
            f"{tls.variable(key_field)} does not hold the key of the certificate in "
            f"{tls.variable(cert_field)}"
        )
    return LoadedCertificate(chain, key_pem, leaf)


class ServerCertificates:
    """The server's certificate, key and client CA: read at start, re-read when changed."""

    def __init__(self, tls: TlsSettings) -> None:
        if not tls.server_enabled:
            raise ValueError("TLS is not configured for the server")
        self._tls = tls
        self._paths = [
            path for path in (tls.cert_file, tls.key_file, tls.client_ca_file) if path is not None
        ]
        self._lock = threading.Lock()  # grpc may call the fetcher from several threads
        self._stamp = _stamp(self._paths)
        self.current, self._config = self._load()  # a bad file: ValueError at start-up
        self.reloads = 0

    def _load(self) -> tuple[LoadedCertificate, grpc.ServerCertificateConfiguration]:
        loaded = _key_pair(self._tls, "cert_file", "key_file")
        client_ca: bytes | None = None
        if self._tls.client_ca_file is not None:
            client_ca = _read(self._tls, "client_ca_file")
            _certificates(self._tls, "client_ca_file", client_ca)
        config = grpc.ssl_server_certificate_configuration(
            [(loaded.key, loaded.chain)], root_certificates=client_ca
        )
        return loaded, config

    def credentials(self) -> grpc.ServerCredentials:
        """Credentials for ``server.add_secure_port`` that follow the files."""
        fetch = cast(Callable[[], grpc.ServerCertificateConfiguration], self.fetch)
        return grpc.dynamic_ssl_server_credentials(
            self._config, fetch, require_client_authentication=self._tls.require_client_cert
        )

    def fetch(self) -> grpc.ServerCertificateConfiguration | None:
        """Called by grpc before each handshake: a new configuration, or None for no change.

        Cheap when nothing changed (one stat per file); never raises (grpc would only
        log it and drop the connection).
        """
        try:
            with self._lock:
                stamp = _stamp(self._paths)
                if stamp == self._stamp:
                    return None
                # Remember this state even if it is unusable: the next attempt waits
                # for another change instead of re-reading a broken pair per connection.
                self._stamp = stamp
                try:
                    loaded, config = self._load()
                except ValueError as err:
                    logger.warning(
                        "TLS certificate files changed but cannot be used (%s); keeping serial %x",
                        err,
                        self.current.serial,
                    )
                    return None
                self.current, self._config = loaded, config
                self.reloads += 1
            _log_certificate("reloaded", loaded)
            return config
        except Exception:
            logger.exception("TLS certificate reload failed; keeping the current certificate")
            return None


def _log_certificate(what: str, loaded: LoadedCertificate) -> None:
    logger.info(
        "TLS server certificate %s: serial %x, subject %s, valid until %s",
        what,
        loaded.serial,
        loaded.certificate.subject.rfc4514_string(),
        loaded.certificate.not_valid_after_utc.isoformat(),
        extra={"tls_serial": format(loaded.serial, "x")},
    )


def server_certificates(tls: TlsSettings) -> ServerCertificates | None:
    """The server's certificates when TLS is on (logged), None when it is off."""
    if not tls.server_enabled:
        return None
    certificates = ServerCertificates(tls)
    _log_certificate("loaded", certificates.current)
    return certificates


def channel_credentials(tls: TlsSettings) -> grpc.ChannelCredentials | None:
    """Credentials for calls to another service as the files say now; None when TLS is off."""
    if not tls.client_enabled:
        return None
    ca = _read(tls, "ca_file")
    _certificates(tls, "ca_file", ca)
    if tls.client_cert_file is None:
        return grpc.ssl_channel_credentials(root_certificates=ca)
    client = _key_pair(tls, "client_cert_file", "client_key_file")
    return grpc.ssl_channel_credentials(
        root_certificates=ca, private_key=client.key, certificate_chain=client.chain
    )


def channel(
    target: str,
    tls: TlsSettings | None,
    *,
    interceptors: Sequence[grpc.aio.ClientInterceptor] | None = None,
    options: Sequence[tuple[str, Any]] = (),
) -> grpc.aio.Channel:
    """A grpc.aio channel to another service: TLS when ``tls`` has a CA, plaintext otherwise.

    The certificates are read once; use ``ReloadingChannel`` in a long-lived process.
    """
    credentials = None if tls is None else channel_credentials(tls)
    if credentials is None:
        return grpc.aio.insecure_channel(target, options=list(options), interceptors=interceptors)
    return grpc.aio.secure_channel(
        target, credentials, options=list(options), interceptors=interceptors
    )


class ReloadingChannel:
    """A channel to one service that is made anew after its certificate files changed.

    ``get()`` (or ``stub()``) before each call: it stats the CA and client certificate
    files (only when TLS is on) and, when one changed, opens a new channel for this and
    later calls; the old one is closed once its calls have ended, after at most
    ``retire_grace_seconds`` (the longest deadline its calls use). If the new files
    cannot be used, the old channel stays, and the next change is tried again.
    """

    def __init__(
        self,
        target: str,
        tls: TlsSettings | None,
        *,
        interceptors: Sequence[grpc.aio.ClientInterceptor] | None = None,
        options: Sequence[tuple[str, Any]] = (),
        retire_grace_seconds: float = 300.0,
    ) -> None:
        self.target = target
        self._tls = tls if tls is not None and tls.client_enabled else None
        self._interceptors = interceptors
        self._options = options
        self._retire_grace = retire_grace_seconds
        self._paths = (
            []
            if self._tls is None
            else [
                p
                for p in (self._tls.ca_file, self._tls.client_cert_file, self._tls.client_key_file)
                if p is not None
            ]
        )
        self._stamp = _stamp(self._paths)
        self._channel = self._open()
        self._stubs: dict[Callable[[grpc.aio.Channel], Any], Any] = {}
        # Replaced channels still closing (None: not started, no loop was running).
        self._retiring: dict[grpc.aio.Channel, asyncio.Task[None] | None] = {}
        self.generation = 0  # how many times the channel was made anew

    def _open(self) -> grpc.aio.Channel:
        return channel(
            self.target, self._tls, interceptors=self._interceptors, options=self._options
        )

    def get(self) -> grpc.aio.Channel:
        """The channel to use for the next call."""
        if self._paths:
            stamp = _stamp(self._paths)
            if stamp != self._stamp:
                self._stamp = stamp
                self._renew()
        return self._channel

    def stub(self, factory: Callable[[grpc.aio.Channel], StubT]) -> StubT:
        """``factory(channel)`` for the current channel, made once per channel."""
        current = self.get()
        stub = self._stubs.get(factory)
        if stub is None or stub[0] is not current:
            stub = (current, factory(current))
            self._stubs[factory] = stub
        return cast(StubT, stub[1])

    def _renew(self) -> None:
        try:
            fresh = self._open()
        except ValueError as err:
            logger.warning(
                "TLS files for calls to %s changed but cannot be used (%s); "
                "keeping the current channel",
                self.target,
                err,
            )
            return
        old, self._channel = self._channel, fresh
        self.generation += 1
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # called outside a loop: closed by close()
            self._retiring[old] = None
        else:
            task = loop.create_task(
                old.close(self._retire_grace), name=f"retire-channel-{self.target}"
            )
            self._retiring[old] = task
            task.add_done_callback(lambda _: self._retiring.pop(old, None))
        logger.info("TLS files for calls to %s changed: new channel", self.target)

    async def close(self) -> None:
        """Close the channel and any old one still draining, cancelling their calls."""
        for old, task in list(self._retiring.items()):
            if task is not None:
                task.cancel()
            await old.close(None)
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._retiring.clear()
        await self._channel.close(None)
