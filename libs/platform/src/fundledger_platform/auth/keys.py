"""Each issuer's public keys (JWKS), from a file or a URL, cached, refreshed as keys rotate.

A key set is a mapping ``kid -> JWK``. Only public asymmetric keys are kept: symmetric (`oct`)
keys, keys for encryption (`use: enc`) and anything carrying private parts are dropped when the
set is read, so an HMAC secret can never become a verification key.

- :class:`FileKeySet` re-reads its file when the file changes (size, mtime or inode: a
  Kubernetes ConfigMap update swaps a symlink). A cheap ``stat`` at most every
  ``check_seconds`` on the hot path, and at once when a token names an unknown ``kid``.
- :class:`UrlKeySet` fetches with urllib in a worker thread (never blocking the event loop),
  with a timeout and a size limit. An unknown ``kid`` refetches at most once per
  ``min_refetch_seconds`` (a stream of forged kids cannot hammer the identity provider);
  concurrent callers share one fetch; the set is also refreshed in the background once older
  than ``max_age_seconds``, so removed keys stop verifying. A failed fetch keeps the last good set.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import ssl
import time
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from fundledger_platform.auth.settings import AuthSettings, IssuerConfig

__all__ = ["FileKeySet", "KeySet", "UrlKeySet", "key_set_for", "parse_jwks"]

logger = logging.getLogger(__name__)

JWK = dict[str, Any]
MAX_JWKS_BYTES = 1024 * 1024
_PUBLIC_KEY_TYPES = frozenset({"RSA", "EC", "OKP"})
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "k", "oth"})


class KeySet(Protocol):
    async def get(self, kid: str | None) -> JWK | None:
        """The key for ``kid`` (None: the token names no kid), refreshing the set if it is
        unknown (within the source's limits); None when the issuer has no such key."""
        ...

    def current(self, kid: str | None) -> JWK | None:
        """The key for ``kid`` as the set stands (no waiting): is a cached verification by this
        key still valid?"""
        ...


def parse_jwks(document: Any) -> dict[str, JWK]:
    """The usable public keys of a JWKS document, by kid; ValueError if it is not a JWKS."""
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWKS document (an object with a `keys` list)")
    keys: dict[str, JWK] = {}
    for index, jwk in enumerate(document["keys"]):
        if not isinstance(jwk, Mapping):
            continue
        kid = jwk.get("kid")
        kid = kid if isinstance(kid, str) and kid else f"#{index}"  # no kid: by position
        if jwk.get("kty") not in _PUBLIC_KEY_TYPES:
            continue  # oct (a shared secret) or unknown
        if jwk.get("use", "sig") != "sig" or _PRIVATE_MEMBERS & set(jwk):
            continue
        keys[kid] = dict(jwk)
    return keys


def _single(keys: Mapping[str, JWK], kid: str | None) -> JWK | None:
    if kid is not None:
        return keys.get(kid)
    # A token without a kid is only accepted from an issuer with exactly one key.
    return next(iter(keys.values())) if len(keys) == 1 else None


class FileKeySet:
    def __init__(
        self,
        path: Path,
        *,
        check_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._path = path
        self._check_seconds = check_seconds
        self._clock = clock
        self._keys: dict[str, JWK] = {}
        self._signature: tuple[int, int, int] | None = None
        self._checked_at: float | None = None
        self.loads = 0  # successful (re)reads, for tests and diagnostics

    async def get(self, kid: str | None) -> JWK | None:
        key = self.current(kid)
        if key is None:
            self._reload_if_changed()
            key = _single(self._keys, kid)
        return key

    def current(self, kid: str | None) -> JWK | None:
        now = self._clock()
        if self._checked_at is None or now - self._checked_at >= self._check_seconds:
            self._reload_if_changed()
        return _single(self._keys, kid)

    def _reload_if_changed(self) -> None:
        self._checked_at = self._clock()
        try:
            stat = os.stat(self._path)
        except OSError as err:
            logger.warning(
                "JWKS file %s unreadable (%s): keeping the last good keys",
                self._path,
                err.strerror,
            )
            return
        signature = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        if signature == self._signature:
            return
        self._signature = signature  # this content is read once, usable or not
        try:
            # Small and local (a mounted ConfigMap): read in place.
            keys = parse_jwks(json.loads(self._path.read_bytes()[:MAX_JWKS_BYTES]))
        except (OSError, ValueError) as err:
            logger.warning(
                "JWKS file %s unusable (%s): keeping the last good keys", self._path, err
            )
            return
        self._keys = keys
        self.loads += 1
        logger.info("JWKS file %s loaded: %d key(s)", self._path, len(keys))


class UrlKeySet:
    def __init__(
        self,
        url: str,
        *,
        timeout_seconds: float = 5.0,
        min_refetch_seconds: float = 30.0,
        max_age_seconds: float = 600.0,
        ca_file: Path | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = url
        self._timeout = timeout_seconds
        self._min_refetch = min_refetch_seconds
        self._max_age = max_age_seconds
        self._clock = clock
        self._ssl = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
        # Never through an HTTP proxy from the environment: the key set must come from the issuer.
        self._opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=self._ssl)
        )
        self._keys: dict[str, JWK] = {}
        self._loaded_at: float | None = None
        self._attempted_at: float | None = None
        self._inflight: asyncio.Task[None] | None = None
        self.fetches = 0  # attempts, for tests and diagnostics

    async def get(self, kid: str | None) -> JWK | None:
        key = self.current(kid)
        if key is None and self._may_fetch():
            await self._refresh()
            key = _single(self._keys, kid)
        return key

    def current(self, kid: str | None) -> JWK | None:
        if (
            self._loaded_at is not None
            and self._clock() - self._loaded_at >= self._max_age
            and self._may_fetch()
        ):
            self._start_refresh()  # in the background: this call uses the set it has
        return _single(self._keys, kid)

    def _may_fetch(self) -> bool:
        if self._inflight is not None:
            return True  # join the fetch under way
        return self._attempted_at is None or (
            self._clock() - self._attempted_at >= self._min_refetch
        )

    def _start_refresh(self) -> asyncio.Task[None]:
        if self._inflight is None:
            self._attempted_at = self._clock()
            self._inflight = asyncio.get_running_loop().create_task(
                self._fetch(), name="jwks-fetch"
            )
            self._inflight.add_done_callback(self._fetched)
        return self._inflight

    def _fetched(self, task: asyncio.Task[None]) -> None:
        self._inflight = None

    async def _refresh(self) -> None:
        # shield: a caller whose RPC is cancelled must not cancel the fetch others wait on.
        await asyncio.shield(self._start_refresh())

    async def _fetch(self) -> None:
        self.fetches += 1
        try:
            keys = await asyncio.to_thread(self._download)
        except Exception as err:  # network, HTTP status, JSON, JWKS shape: all keep the old set
            logger.warning(
                "JWKS fetch from %s failed (%s): keeping the last good keys (%d)",
                self._url,
                err,
                len(self._keys),
            )
            return
        self._keys = keys
        self._loaded_at = self._clock()
        logger.info("JWKS fetched from %s: %d key(s)", self._url, len(keys))

    def _download(self) -> dict[str, JWK]:
        request = urllib.request.Request(self._url, headers={"Accept": "application/json"})
        with self._opener.open(request, timeout=self._timeout) as response:
            body = response.read(MAX_JWKS_BYTES + 1)
        if len(body) > MAX_JWKS_BYTES:
            raise ValueError(f"larger than {MAX_JWKS_BYTES} bytes")
        return parse_jwks(json.loads(body))


def key_set_for(issuer: IssuerConfig, settings: AuthSettings) -> KeySet:
    if issuer.jwks_file is not None:
        return FileKeySet(issuer.jwks_file)
    assert issuer.jwks_url is not None
    return UrlKeySet(
        issuer.jwks_url,
        timeout_seconds=settings.jwks_timeout_seconds,
        min_refetch_seconds=settings.jwks_min_refetch_seconds,
        max_age_seconds=settings.jwks_max_age_seconds,
        ca_file=issuer.jwks_ca_file,
    )
