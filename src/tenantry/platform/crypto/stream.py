"""Stream encryption: blobs of any size sealed frame by frame, never whole in memory.

This is the STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár, "Online
authenticated-encryption and its nonce-reuse misuse-resistance"), shaped like Tink's
AES-GCM-HKDF streaming AEAD. Layout (integers big-endian):

Header, HEADER_SIZE = 48 bytes:

    offset  size  content
    0       1     format version, 0x01 (STREAM_FORMAT_VERSION)
    1       4     key version (uint32) of the DataKey the stream key comes from
    5       4     frame size F (uint32): plaintext bytes per frame, 1 MiB to 4 MiB
    9       32    random salt
    41      7     random nonce prefix

Then one or more frames, each the AES-256-GCM ciphertext of its plaintext followed by a
16-byte tag. Every frame but the last holds exactly F plaintext bytes (F + 16 stored bytes);
the last holds 0 to F (0 only when the whole plaintext is empty). For frame i:

    key    = HKDF-SHA256(ikm=DataKey material, salt=salt, info=b"tenantry stream v1"), 32 bytes
    nonce  = nonce prefix (7) || i as uint32 (4) || 0x01 if last frame else 0x00 (1)
    aad    = the 48 header bytes || tenant id, collection, object id, each as a uint32 byte
             length followed by its UTF-8 bytes

The per-stream key keeps nonces from colliding across streams under one long-lived DataKey.
The counter in the nonce catches reordered and dropped frames, the last-frame flag catches
truncation at a frame boundary, and the header in every frame's associated data catches a
swapped header. Decryption yields a frame's plaintext only once that frame authenticates, but a
stream is complete only when the iterator finishes without raising: callers must discard what
they received from a stream that ended in CiphertextRejected.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tenantry.platform.crypto.errors import CiphertextRejected, EncryptionError
from tenantry.platform.crypto.fields import (
    KEY_SIZE,
    TAG_SIZE,
    UINT32_MAX,
    DataKey,
    KeyLookup,
    bind_context,
    resolve_key,
)

STREAM_FORMAT_VERSION = 0x01
MIN_FRAME_SIZE = 1024 * 1024
MAX_FRAME_SIZE = 4 * 1024 * 1024
DEFAULT_FRAME_SIZE = MIN_FRAME_SIZE
_SALT_SIZE = 32
_PREFIX_SIZE = 7
_HEADER = struct.Struct(f">BII{_SALT_SIZE}s{_PREFIX_SIZE}s")
HEADER_SIZE = _HEADER.size
_NONCE = struct.Struct(f">{_PREFIX_SIZE}sIB")
_HKDF_INFO = b"tenantry stream v1"


@dataclass(frozen=True)
class _Header:
    raw: bytes
    key_version: int
    frame_size: int
    salt: bytes
    prefix: bytes


def encrypt_stream(
    key: DataKey,
    chunks: Iterable[bytes],
    *,
    tenant_id: str,
    collection: str,
    object_id: str,
    frame_size: int = DEFAULT_FRAME_SIZE,
) -> Iterator[bytes]:
    """Seal `chunks` (any sizes) for this tenant, collection and object, yielding as it goes.

    Yields the header first, then one frame at a time; at most about one frame of plaintext is
    buffered. Arguments are checked here, before any input is read.
    """
    _check_frame_size(frame_size)
    context = bind_context(tenant_id=tenant_id, collection=collection, object_id=object_id)
    raw = _HEADER.pack(
        STREAM_FORMAT_VERSION,
        key.version,
        frame_size,
        os.urandom(_SALT_SIZE),
        os.urandom(_PREFIX_SIZE),
    )
    return _seal_frames(key, _parse_header(raw), context, chunks)


def decrypt_stream(
    keys: KeyLookup,
    chunks: Iterable[bytes],
    *,
    tenant_id: str,
    collection: str,
    object_id: str,
) -> Iterator[bytes]:
    """Open a stream from `encrypt_stream` for the same place, yielding plaintext frame by frame.

    Raises CiphertextRejected while iterating; see the module docstring for what a caller must
    do with plaintext already received when that happens.
    """
    context = bind_context(tenant_id=tenant_id, collection=collection, object_id=object_id)
    return _open_frames(keys, iter(chunks), context)


def stream_key_version(header: bytes) -> int:
    """The key version a stream names, from its first HEADER_SIZE bytes (more are ignored)."""
    return _parse_header(header[:HEADER_SIZE]).key_version


def encrypted_size(plaintext_size: int, frame_size: int = DEFAULT_FRAME_SIZE) -> int:
    """The exact stored size of a stream of `plaintext_size` bytes (for quotas, Content-Length)."""
    _check_frame_size(frame_size)
    if isinstance(plaintext_size, bool) or not isinstance(plaintext_size, int):
        raise EncryptionError("invalid_size", "plaintext size must be an integer")
    if plaintext_size < 0:
        raise EncryptionError("invalid_size", "plaintext size must not be negative")
    frames = max(1, -(-plaintext_size // frame_size))
    if frames - 1 > UINT32_MAX:
        raise EncryptionError("too_large", "plaintext needs more than 2**32 frames")
    return HEADER_SIZE + plaintext_size + frames * TAG_SIZE


def _seal_frames(
    key: DataKey, header: _Header, context: bytes, chunks: Iterable[bytes]
) -> Iterator[bytes]:
    aead = _frame_cipher(key, header.salt)
    aad = header.raw + context
    size = header.frame_size
    yield header.raw
    buffer = bytearray()
    counter = 0
    for chunk in chunks:
        buffer += chunk
        # Keep a full frame back until more input shows it is not the last one.
        while len(buffer) > size:
            yield aead.encrypt(_nonce(header, counter, last=False), bytes(buffer[:size]), aad)
            del buffer[:size]
            counter += 1
    yield aead.encrypt(_nonce(header, counter, last=True), bytes(buffer), aad)


def _open_frames(keys: KeyLookup, chunks: Iterator[bytes], context: bytes) -> Iterator[bytes]:
    buffer = bytearray()
    while len(buffer) < HEADER_SIZE and (chunk := next(chunks, None)) is not None:
        buffer += chunk
    header = _parse_header(bytes(buffer[:HEADER_SIZE]))
    del buffer[:HEADER_SIZE]
    aead = _frame_cipher(resolve_key(keys, header.key_version), header.salt)
    aad = header.raw + context
    sealed = header.frame_size + TAG_SIZE
    counter = 0
    while True:
        # A full frame with bytes after it cannot be the last one.
        while len(buffer) > sealed:
            if counter >= UINT32_MAX:
                raise CiphertextRejected("trailing_data", "stream has more than 2**32 frames")
            yield _open_frame(aead, header, counter, bytes(buffer[:sealed]), aad, last=False)
            del buffer[:sealed]
            counter += 1
        chunk = next(chunks, None)
        if chunk is None:
            break
        buffer += chunk
    if len(buffer) < TAG_SIZE:
        raise CiphertextRejected("truncated", f"stream ends before frame {counter} is complete")
    yield _open_frame(aead, header, counter, bytes(buffer), aad, last=True)


def _open_frame(
    aead: AESGCM, header: _Header, counter: int, frame: bytes, aad: bytes, *, last: bool
) -> bytes:
    try:
        return aead.decrypt(_nonce(header, counter, last=last), frame, aad)
    except InvalidTag:
        pass
    # Only to name the failure: a frame that is authentic with the other flag means the stream
    # was cut at a frame boundary, or has data after its real last frame.
    try:
        aead.decrypt(_nonce(header, counter, last=not last), frame, aad)
    except InvalidTag:
        raise CiphertextRejected(
            "authentication_failed", f"stream frame {counter} does not authenticate"
        ) from None
    if last:
        raise CiphertextRejected("truncated", f"stream ends after frame {counter}, not its last")
    raise CiphertextRejected("trailing_data", f"data follows the last frame ({counter})")


def _parse_header(data: bytes) -> _Header:
    if not data:
        raise CiphertextRejected("truncated", "stream is empty")
    if data[0] != STREAM_FORMAT_VERSION:
        raise CiphertextRejected(
            "unknown_format", f"stream format version {data[0]} is not {STREAM_FORMAT_VERSION}"
        )
    if len(data) < HEADER_SIZE:
        raise CiphertextRejected(
            "truncated", f"stream header has {len(data)} bytes, fewer than {HEADER_SIZE}"
        )
    _, key_version, frame_size, salt, prefix = _HEADER.unpack(data)
    if not MIN_FRAME_SIZE <= frame_size <= MAX_FRAME_SIZE:
        raise CiphertextRejected(
            "unknown_format", f"stream frame size {frame_size} is outside 1 MiB to 4 MiB"
        )
    return _Header(data, key_version, frame_size, salt, prefix)


def _check_frame_size(frame_size: int) -> None:
    if isinstance(frame_size, bool) or not isinstance(frame_size, int):
        raise EncryptionError("invalid_frame_size", "frame size must be an integer")
    if not MIN_FRAME_SIZE <= frame_size <= MAX_FRAME_SIZE:
        raise EncryptionError(
            "invalid_frame_size", f"frame size {frame_size} is outside 1 MiB to 4 MiB"
        )


def _frame_cipher(key: DataKey, salt: bytes) -> AESGCM:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_SIZE, salt=salt, info=_HKDF_INFO)
    return AESGCM(hkdf.derive(key.material))


def _nonce(header: _Header, counter: int, *, last: bool) -> bytes:
    if counter > UINT32_MAX:
        raise EncryptionError("too_large", "stream needs more than 2**32 frames")
    return _NONCE.pack(header.prefix, counter, 1 if last else 0)
