"""Service key pairs on disk, key identifiers, and the contract every public key repository meets.

Every service signs its outgoing service tokens with its own EC P-256 private key; every receiver
checks them against the public half found in a key repository by the token's `kid`. The layout and
`kid` format (`<issuer>/<keyname>`) follow the ASAP conventions so tokens interoperate with the
reference ASAP implementation.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tenantry.platform.files import directory_lock, write_atomically

_ISSUER = re.compile(r"[a-z][a-z0-9-]{0,62}")
_KEYNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
# A PEM-encoded P-256 key is a few hundred bytes; anything far larger is not a key we made.
MAX_PEM_BYTES = 16 * 1024


class KidError(ValueError):
    """Raised for a key identifier that is not exactly `<issuer>/<keyname>` in the safe alphabet."""


class UnknownKeyError(LookupError):
    """Raised when a key repository holds no usable public key for a well-formed `kid`."""


class KeyFileError(RuntimeError):
    """Raised when a service's private key is missing or stored where others could read it."""


@dataclass(frozen=True, slots=True)
class ServiceKey:
    """The private key a service signs its tokens with, and the identity it signs them as."""

    issuer: str
    kid: str
    private_key: ec.EllipticCurvePrivateKey


class KeyRepository(Protocol):
    """Where token verifiers find the public key a `kid` names (files, HTTP, ...)."""

    def public_key(self, kid: str) -> ec.EllipticCurvePublicKey:
        """Return the public key for `kid`; raise KidError or UnknownKeyError."""
        ...


def parse_kid(kid: str) -> tuple[str, str]:
    """Split a `kid` into (issuer, keyname), refusing anything that could escape a key directory.

    The kid arrives in unauthenticated token headers and is turned into file paths and URLs, so
    it is checked against a strict allowlist rather than sanitised.
    """
    if not isinstance(kid, str):
        raise KidError("kid must be a string")
    if kid.startswith("/") or "\\" in kid or "%" in kid or ".." in kid or kid.count("/") != 1:
        raise KidError(f"malformed kid {kid[:80]!r}")
    issuer, keyname = kid.split("/")
    if not _ISSUER.fullmatch(issuer) or not _KEYNAME.fullmatch(keyname):
        raise KidError(f"malformed kid {kid[:80]!r}")
    return issuer, keyname


def load_public_pem(data: bytes) -> ec.EllipticCurvePublicKey:
    """Parse a public key PEM and insist it is a P-256 key, the only kind tokens may name."""
    if len(data) > MAX_PEM_BYTES:
        raise UnknownKeyError("public key document is too large")
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise UnknownKeyError("public key document is not a PEM public key") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise UnknownKeyError("public key is not an EC P-256 key")
    return key


def ensure_service_key(data_dir: Path, service: str, keyname: str = "k1") -> ServiceKey:
    """Return the service's key `keyname`, generating and storing the pair on first use.

    The private key goes to `keys/private/<service>/<keyname>.pem` (0600, directory 0700) and the
    public key to `keys/public/<service>/<keyname>.pem` (0644), where a directory key repository
    serves it from.
    """
    kid = f"{service}/{keyname}"
    parse_kid(kid)
    private_dir = data_dir / "keys" / "private" / service
    public_path = data_dir / "keys" / "public" / service / f"{keyname}.pem"
    private_path = private_dir / f"{keyname}.pem"
    with directory_lock(data_dir / "keys"):
        if not private_path.exists():
            _make_private_dirs(data_dir / "keys" / "private", private_dir)
            private_key = ec.generate_private_key(ec.SECP256R1())
            pem = private_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            write_atomically(private_path, pem, 0o600)
        key = _load_private_key(private_path, service, kid)
        if not public_path.exists():
            public_path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(public_path, public_pem(key), 0o644)
    return key


def load_service_key(data_dir: Path, service: str) -> ServiceKey:
    """Load the newest private key of `service` (by modification time, then name).

    Used by processes that sign but must never create keys themselves; key rotation adds a new
    keyname, and the newest one is the one to sign with.
    """
    parse_kid(f"{service}/k")
    private_dir = data_dir / "keys" / "private" / service
    candidates: list[tuple[int, str, Path]] = []
    if private_dir.is_dir():
        for path in private_dir.glob("*.pem"):
            keyname = path.name.removesuffix(".pem")
            with contextlib.suppress(KidError):
                parse_kid(f"{service}/{keyname}")
                candidates.append((path.stat().st_mtime_ns, keyname, path))
    if not candidates:
        raise KeyFileError(f"no private key for service {service!r} under {private_dir}")
    _, keyname, path = max(candidates)
    return _load_private_key(path, service, f"{service}/{keyname}")


def public_pem(key: ServiceKey) -> bytes:
    """The SubjectPublicKeyInfo PEM of a service key, as key repositories serve it."""
    return key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _load_private_key(path: Path, issuer: str, kid: str) -> ServiceKey:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        raise KeyFileError(f"cannot open private key {path}: {exc.strerror}") from exc
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise KeyFileError(f"private key {path} is not a regular file")
        if info.st_mode & 0o077:
            raise KeyFileError(
                f"private key {path} is accessible by group or others "
                f"(mode {stat.S_IMODE(info.st_mode):o}); run chmod 600 on it"
            )
        data = handle.read(MAX_PEM_BYTES + 1)
    if len(data) > MAX_PEM_BYTES:
        raise KeyFileError(f"private key {path} is too large")
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise KeyFileError(f"private key {path} is not an EC P-256 key")
    return ServiceKey(issuer=issuer, kid=kid, private_key=key)


def _make_private_dirs(*dirs: Path) -> None:
    for directory in dirs:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        # mkdir's mode is filtered by the umask and ignored for existing directories.
        os.chmod(directory, 0o700)
