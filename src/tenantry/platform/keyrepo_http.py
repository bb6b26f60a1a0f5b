"""A key repository fetched over HTTPS, for fleets where services do not share a disk.

It speaks the ASAP key-server convention: `GET <base_url>/<kid>` answers with the PEM of that
public key, so the same server also serves the reference ASAP library's HTTPS retriever.
"""

from __future__ import annotations

import ssl
import threading
import time
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import httpx
from cryptography.hazmat.primitives.asymmetric import ec

from tenantry.platform.service_keys import (
    MAX_PEM_BYTES,
    UnknownKeyError,
    load_public_pem,
    parse_kid,
)
from tenantry.platform.tls import client_ssl_context

PEM_MEDIA_TYPE = "application/x-pem-file"
_V = TypeVar("_V")


class _ServerUnavailable(UnknownKeyError):
    """The key server could not answer (network error or 5xx), as opposed to "no such key"."""


class HttpKeyRepository:
    """Fetch public keys from a key server on cache misses and keep them in memory.

    Found keys are kept for `cache_seconds`, then fetched again, so a key the server no longer
    has stops being trusted; while the server is unreachable a key already known stays in use.
    Keys the server does not have are remembered as missing for `miss_seconds`, so a stream of
    tokens naming an unknown kid does not turn into a stream of requests. Only `https://` is
    accepted: a key fetched over plain HTTP could be swapped in transit.
    """

    def __init__(
        self,
        base_url: str,
        ca_file: Path | None,
        *,
        timeout: float = 2.0,
        cache_seconds: float = 300.0,
        miss_seconds: float = 10.0,
        max_entries: int = 4096,
    ) -> None:
        if urlsplit(base_url).scheme != "https":
            raise ValueError("the key repository URL must start with https://")
        self._base_url = base_url if base_url.endswith("/") else base_url + "/"
        verify: ssl.SSLContext | bool = client_ssl_context(ca_file) if ca_file else True
        self._client = httpx.Client(
            verify=verify,
            timeout=timeout,
            follow_redirects=False,
            trust_env=False,
            headers={"accept": PEM_MEDIA_TYPE},
        )
        self._cache_seconds = cache_seconds
        self._miss_seconds = miss_seconds
        self._max_entries = max_entries
        self._found: dict[str, tuple[float, ec.EllipticCurvePublicKey]] = {}
        self._missing: dict[str, float] = {}
        self._lock = threading.Lock()

    def public_key(self, kid: str) -> ec.EllipticCurvePublicKey:
        """Return the public key `kid` names; raise KidError or UnknownKeyError."""
        now = time.monotonic()
        found = self._found.get(kid)
        if found is not None and found[0] > now:
            return found[1]
        parse_kid(kid)
        missing_until = self._missing.get(kid)
        if missing_until is not None and missing_until > now:
            raise UnknownKeyError(f"no public key for kid {kid!r}")
        # One fetch at a time: concurrent misses for the same kid would each hit the server.
        with self._lock:
            found = self._found.get(kid)
            if found is not None and found[0] > now:
                return found[1]
            try:
                key = load_public_pem(self._fetch(kid))
            except _ServerUnavailable:
                if found is None:
                    self._remember(self._missing, kid, now + self._miss_seconds)
                    raise
                self._remember(self._found, kid, (now + self._miss_seconds, found[1]))
                return found[1]
            except UnknownKeyError:
                self._remember(self._missing, kid, now + self._miss_seconds)
                self._found.pop(kid, None)
                raise
            self._remember(self._found, kid, (now + self._cache_seconds, key))
            self._missing.pop(kid, None)
            return key

    def close(self) -> None:
        """Release the HTTP connection pool."""
        self._client.close()

    def _fetch(self, kid: str) -> bytes:
        try:
            with self._client.stream("GET", self._base_url + kid) as response:
                if response.status_code >= httpx.codes.INTERNAL_SERVER_ERROR:
                    raise _ServerUnavailable(
                        f"key server answered {response.status_code} for kid {kid!r}"
                    )
                if response.status_code != httpx.codes.OK:
                    raise UnknownKeyError(
                        f"key server answered {response.status_code} for kid {kid!r}"
                    )
                body = b""
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_PEM_BYTES:
                        raise UnknownKeyError("public key document is too large")
                return body
        except httpx.HTTPError as exc:
            raise _ServerUnavailable(f"key server unreachable for kid {kid!r}: {exc}") from exc

    def _remember(self, table: dict[str, _V], kid: str, value: _V) -> None:
        if len(table) >= self._max_entries:
            table.clear()
        table[kid] = value
