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

Work over many rows of one column uses a `FieldColumn`, which encodes the tenant, table and
column once; `reseal_fields` moves a batch of values to a new key (after a rotation) with the
least work per value. Both build the same associated data as the functions for one value.

Random 96-bit nonces keep one key safe for about 2**32 values; rotate keys long before that.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterable
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
    before, after = _column_parts(tenant_id, table, column)
    return _seal(key.aead, _header(key), plaintext, _cell_context(before, row, after))


def decrypt_field(
    keys: KeyLookup, ciphertext: bytes, *, tenant_id: str, table: str, row: str, column: str
) -> bytes:
    """Open a value sealed by `encrypt_field` for the same place; raise CiphertextRejected."""
    before, after = _column_parts(tenant_id, table, column)
    context = _cell_context(before, row, after)
    return _open(resolve_key(keys, key_version(ciphertext)).aead, ciphertext, context)


@dataclass(frozen=True, slots=True)
class FieldColumn:
    """One column of one tenant's table, its part of every cell's associated data encoded once.

    Work over many rows of a column (resealing after a key rotation, say) binds each value to its
    cell without encoding the tenant, table and column again for every value. Values it seals open
    with `decrypt_field` and the other way round: the stored format is the same.
    """

    tenant_id: str
    table: str
    column: str
    _before: bytes = field(init=False, repr=False, compare=False)
    _after: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        before, after = _column_parts(self.tenant_id, self.table, self.column)
        object.__setattr__(self, "_before", before)
        object.__setattr__(self, "_after", after)

    def context(self, row: str) -> bytes:
        """The cell part of the associated data for `row` of this column (no header)."""
        return _cell_context(self._before, row, self._after)

    def seal(self, key: DataKey, plaintext: bytes, row: str) -> bytes:
        """`encrypt_field` for `row` of this column."""
        return _seal(key.aead, _header(key), plaintext, self.context(row))

    def open(self, keys: KeyLookup, ciphertext: bytes, row: str) -> bytes:
        """`decrypt_field` for `row` of this column; raise CiphertextRejected."""
        context = self.context(row)
        return _open(resolve_key(keys, key_version(ciphertext)).aead, ciphertext, context)


def reseal_field(
    keys: KeyLookup, new_key: DataKey, column: FieldColumn, row: str, ciphertext: bytes
) -> bytes:
    """Open one value of `row` under the key it names and seal it again under `new_key`."""
    return reseal_fields(keys, new_key, column, ((row, ciphertext),))[0]


def reseal_fields(
    keys: KeyLookup, new_key: DataKey, column: FieldColumn, cells: Iterable[tuple[str, bytes]]
) -> list[bytes]:
    """Reseal many (row, ciphertext) values of one column under `new_key`, in order.

    Each value is opened under the key version it names and sealed under `new_key` with a fresh
    nonce, bound to the same cell. `keys` is asked once per version met, not once per value. The
    first value that does not open raises CiphertextRejected, as `decrypt_field` would, and
    nothing is returned: callers reseal a batch in one transaction and keep the old values.
    """
    new_aead, new_header = new_key.aead, _header(new_key)
    before, after = column._before, column._after
    ciphers: dict[bytes, AESGCM] = {}
    resealed: list[bytes] = []
    for row, ciphertext in cells:
        context = _cell_context(before, row, after)
        aead = ciphers.get(ciphertext[: _HEADER.size])
        if aead is None or len(ciphertext) < _MIN_SIZE:
            # The first value under its version, or a short one: the full checks name the fault.
            aead = resolve_key(keys, key_version(ciphertext)).aead
            ciphers[ciphertext[: _HEADER.size]] = aead
        resealed.append(_seal(new_aead, new_header, _open(aead, ciphertext, context), context))
    return resealed


def _header(key: DataKey) -> bytes:
    """The format byte and key version that start every value `key` seals."""
    return _HEADER.pack(FORMAT_VERSION, key.version)


def _seal(aead: AESGCM, header: bytes, plaintext: bytes, context: bytes) -> bytes:
    """The one way a field is sealed: header, fresh nonce, GCM over (header + cell context)."""
    nonce = os.urandom(NONCE_SIZE)
    return header + nonce + aead.encrypt(nonce, plaintext, header + context)


def _open(aead: AESGCM, ciphertext: bytes, context: bytes) -> bytes:
    """The one way a field is opened, once its format and length have been checked."""
    header = ciphertext[: _HEADER.size]
    try:
        return aead.decrypt(
            ciphertext[_HEADER.size : _PREFIX_SIZE], ciphertext[_PREFIX_SIZE:], header + context
        )
    except InvalidTag:
        version = _HEADER.unpack(header)[1]
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
    return b"".join([_part(name, value) for name, value in parts.items()])


def _column_parts(tenant_id: str, table: str, column: str) -> tuple[bytes, bytes]:
    """A cell's context around its row: tenant and table before it, column after it."""
    return _part("tenant_id", tenant_id) + _part("table", table), _part("column", column)


def _cell_context(before: bytes, row: str, after: bytes) -> bytes:
    """The one way a cell's context is put together: tenant, table, row, column."""
    return before + _part("row", row) + after


def _part(name: str, value: str) -> bytes:
    """One context part: its UTF-8 byte length as uint32, then the bytes; never empty."""
    if not isinstance(value, str) or not value:
        raise EncryptionError("invalid_context", f"{name} must be a non-empty string")
    try:
        encoded = value.encode("utf-8")
    except UnicodeEncodeError:
        raise EncryptionError("invalid_context", f"{name} is not valid Unicode") from None
    if len(encoded) > UINT32_MAX:
        raise EncryptionError("invalid_context", f"{name} is longer than 2**32-1 bytes")
    return _LENGTH.pack(len(encoded)) + encoded


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
