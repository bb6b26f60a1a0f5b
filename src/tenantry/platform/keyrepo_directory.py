"""A key repository backed by a directory of public key files, the single-machine default.

`tenantry up` writes every service's public key to `<data>/keys/public/<issuer>/<keyname>.pem`;
verifiers on the same machine read them from there instead of asking a server.
"""

from __future__ import annotations

import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from tenantry.platform.service_keys import (
    MAX_PEM_BYTES,
    UnknownKeyError,
    load_public_pem,
    parse_kid,
)


class DirectoryKeyRepository:
    """Resolve a `kid` to `root/<issuer>/<keyname>.pem`, keeping loaded keys in memory.

    Loaded keys are re-read after `cache_seconds`, so a key removed from the directory stops
    being trusted without restarting the verifier.
    """

    def __init__(self, root: Path, *, cache_seconds: float = 300.0) -> None:
        self._root = root.resolve()
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, ec.EllipticCurvePublicKey]] = {}

    def public_key(self, kid: str) -> ec.EllipticCurvePublicKey:
        """Return the public key `kid` names; raise KidError or UnknownKeyError."""
        cached = self._cache.get(kid)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            return cached[1]
        issuer, keyname = parse_kid(kid)
        path = (self._root / issuer / f"{keyname}.pem").resolve()
        # parse_kid already rules out traversal; this also catches symlinks pointing outside.
        if not path.is_relative_to(self._root):
            raise UnknownKeyError(f"no public key for kid {kid!r}")
        try:
            with path.open("rb") as handle:
                data = handle.read(MAX_PEM_BYTES + 1)
        except OSError as exc:
            self._cache.pop(kid, None)
            raise UnknownKeyError(f"no public key for kid {kid!r}") from exc
        key = load_public_pem(data)
        self._cache[kid] = (now + self._cache_seconds, key)
        return key
