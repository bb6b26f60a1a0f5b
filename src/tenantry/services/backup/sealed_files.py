"""Backup files sealed for their repository: AES-256-GCM streams under the region's backup key.

Each file is framed as `platform/crypto/stream.py` frames blobs, bound to the region, the
database and generation, and its own name, so a file copied to another place fails to open.
Files are written whole or not at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from tenantry.platform.crypto import DataKey, decrypt_stream, encrypt_stream
from tenantry.platform.files import write_chunks_atomically

READ_SIZE = 1024 * 1024
FILE_MODE = 0o600
DIR_MODE = 0o700


def _read(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(READ_SIZE):
            yield chunk


def make_private_dirs(path: Path) -> None:
    """Create `path` and its missing parents, owner-only."""
    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for part in reversed(missing):
        part.mkdir(mode=DIR_MODE, exist_ok=True)


def seal_file(key: DataKey, source: Path, target: Path, *, place: str, name: str) -> int:
    """Write `source` sealed as `target`; `place` and `name` bind it; the bytes written."""
    make_private_dirs(target.parent)
    sealed = encrypt_stream(
        key, _read(source), tenant_id="backup", collection=place, object_id=name
    )
    return write_chunks_atomically(target, sealed, FILE_MODE)


def open_file(key: DataKey, source: Path, target: Path, *, place: str, name: str) -> None:
    """Write the plaintext of sealed `source` as `target` (CiphertextRejected if it fails)."""
    make_private_dirs(target.parent)
    plain = decrypt_stream(
        lambda _version: key, _read(source), tenant_id="backup", collection=place, object_id=name
    )
    write_chunks_atomically(target, plain, FILE_MODE)


def copy_file(source: Path, target: Path) -> int:
    """Copy an already sealed file (a media blob) as it is."""
    make_private_dirs(target.parent)
    return write_chunks_atomically(target, _read(source), FILE_MODE)
