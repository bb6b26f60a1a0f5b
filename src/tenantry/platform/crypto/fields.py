"""Field encryption: one stored value sealed with AES-256-GCM and bound to the cell it lives in.

A service that keeps a sensitive column at rest stores what `encrypt_field` returns. Layout
(integers big-endian):

    offset  size    content
    0       1       format version, 0x01 (FORMAT_VERSION)
    1       4       key version (uint32) of the DataKey that sealed the value
    5       12      random nonce
    17      n + 16  AES-256-GCM ciphertext of the n plaintext bytes, then the 16-byte tag

The associated data is bytes 0..4 (format and key version) followed by the tenant id, table,
row and column, each as a uint32 byte length and then its UTF-8 bytes, so ("ab", "c") and
("a", "bc") differ. A value copied to another cell, or with any byte changed, fails to decrypt.

Random 96-bit nonces keep one key safe for about 2**32 values; rotate keys long before that.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tenantry.platform.crypto.errors import CiphertextRejected, EncryptionError

FORMAT_VERSION = 0x01
KEY_SIZE = 32
UINT32_MAX = 2**32 - 1
MAX_KEY_VERSION = UINT32_MAX
NONCE_SIZE = 12
TAG_SIZE = 16
_HEADER = struct.Struct(">BI")
_LENGTH = struct.Struct(">I")
_PREFIX_SIZE = _HEADER.size + NONCE_SIZE
_MIN_SIZE = _PREFIX_SIZE + TAG_SIZE


@dataclass(frozen=True)
class DataKey:
    """An AES-256 key and the version number stored beside everything it seals."""

    version: int
    material: bytes = field(repr=False)

    def __post_init__(self) -> None:
        version_ok = isinstance(self.version, int) and not isinstance(self.version, bool)
        if not version_ok or not 1 <= self.version <= MAX_KEY_VERSION:
            raise EncryptionError("invalid_key", "key version must be an integer in 1..2**32-1")
        if not isinstance(self.material, bytes) or len(self.material) != KEY_SIZE:
            raise EncryptionError("invalid_key", f"key material must be exactly {KEY_SIZE} bytes")

    @cached_property
    def aead(self) -> AESGCM:
        """The cipher of this key, made once: its key schedule costs as much as a small seal."""
        return AESGCM(self.material)


KeyLookup = Callable[[int], DataKey]
"""Returns the DataKey of the given version, or raises when it is not available."""


def encrypt_field(
    key: DataKey, plaintext: bytes, *, tenant_id: str, table: str, row: str, column: str
) -> bytes:
    """Seal `plaintext` for exactly this tenant, table, row and column under `key`."""
    header = _HEADER.pack(FORMAT_VERSION, key.version)
    aad = header + bind_context(tenant_id=tenant_id, table=table, row=row, column=column)
    nonce = os.urandom(NONCE_SIZE)
    return header + nonce + key.aead.encrypt(nonce, plaintext, aad)


def decrypt_field(
    keys: KeyLookup, ciphertext: bytes, *, tenant_id: str, table: str, row: str, column: str
) -> bytes:
    """Open a value sealed by `encrypt_field` for the same place; raise CiphertextRejected."""
    context = bind_context(tenant_id=tenant_id, table=table, row=row, column=column)
    version = key_version(ciphertext)
    aead = resolve_key(keys, version).aead
    nonce = ciphertext[_HEADER.size : _PREFIX_SIZE]
    try:
        return aead.decrypt(nonce, ciphertext[_PREFIX_SIZE:], ciphertext[: _HEADER.size] + context)
    except InvalidTag:
        raise CiphertextRejected(
            "authentication_failed",
            f"field does not authenticate under key version {version} for this cell",
        ) from None


def key_version(ciphertext: bytes) -> int:
    """The key version a sealed field names, read without decrypting (for finding rotation work)."""
    if not ciphertext:
        raise CiphertextRejected("truncated", "field ciphertext is empty")
    if ciphertext[0] != FORMAT_VERSION:
        raise CiphertextRejected(
            "unknown_format", f"field format version {ciphertext[0]} is not {FORMAT_VERSION}"
        )
    if len(ciphertext) < _MIN_SIZE:
        raise CiphertextRejected(
            "truncated", f"field ciphertext has {len(ciphertext)} bytes, fewer than {_MIN_SIZE}"
        )
    version: int = _HEADER.unpack_from(ciphertext)[1]
    return version


def bind_context(**parts: str) -> bytes:
    """Encode named context strings unambiguously: each as uint32 byte length then UTF-8 bytes.

    Every part must be a non-empty string: an empty tenant or row would bind to nothing.
    """
    out: list[bytes] = []
    for name, value in parts.items():
        if not isinstance(value, str) or not value:
            raise EncryptionError("invalid_context", f"{name} must be a non-empty string")
        try:
            encoded = value.encode("utf-8")
        except UnicodeEncodeError:
            raise EncryptionError("invalid_context", f"{name} is not valid Unicode") from None
        if len(encoded) > UINT32_MAX:
            raise EncryptionError("invalid_context", f"{name} is longer than 2**32-1 bytes")
        out += (_LENGTH.pack(len(encoded)), encoded)
    return b"".join(out)


def resolve_key(keys: KeyLookup, version: int) -> DataKey:
    """Ask `keys` for `version`, turning any failure or mismatch into key_unavailable."""
    try:
        key = keys(version)
    except Exception as exc:
        raise CiphertextRejected(
            "key_unavailable", f"key version {version} is not available"
        ) from exc
    if not isinstance(key, DataKey) or key.version != version:
        raise CiphertextRejected(
            "key_unavailable", f"key lookup did not return a DataKey of version {version}"
        )
    return key
