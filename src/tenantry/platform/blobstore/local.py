"""A blob store in a local directory: the embedded default, for one machine.

The root is created 0700 and every file 0600, so only the owning account can read it. A write
goes to a temporary file in the same directory, is flushed to disk and then renamed over the
key, so readers see the old bytes or the new ones, never a torn file.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from tenantry.platform.blobstore import check_key
from tenantry.platform.files import write_chunks_atomically

READ_SIZE = 1024 * 1024


class LocalBlobStore:
    """Blobs as files under one directory, a key's `/` segments as subdirectories."""

    def __init__(self, root: Path) -> None:
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(root, 0o700)
        self.root = root.resolve()

    def _path(self, key: str) -> Path:
        path = self.root.joinpath(*check_key(key).split("/"))
        # check_key already forbids dot segments; this guards against symlinks planted inside.
        if not path.resolve().is_relative_to(self.root):
            raise KeyError(key)
        return path

    def put(self, key: str, data: bytes) -> None:
        """Store `data` under `key` atomically."""
        self.put_chunks(key, [data])

    def put_chunks(self, key: str, chunks: Iterable[bytes]) -> int:
        """Write the chunks to a temporary file, fsync it, then rename it over `key`."""
        path = self._path(key)
        self._make_parents(path.parent)
        return write_chunks_atomically(path, chunks, 0o600)

    def get(self, key: str) -> bytes:
        """The whole blob; KeyError when absent."""
        return b"".join(self.open(key))

    def open(self, key: str) -> Iterator[bytes]:
        """The blob in READ_SIZE pieces; the file is opened (KeyError if absent) before return."""
        path = self._path(key)
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            raise KeyError(key) from None
        return _read_all(handle)

    def exists(self, key: str) -> bool:
        """True when a file holds `key`."""
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        """Remove the file of `key`, if any."""
        self._path(key).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> None:
        """Remove the directory of `prefix` and everything under it."""
        path = self._path(prefix)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)

    def _make_parents(self, directory: Path) -> None:
        missing = []
        while directory != self.root and not directory.exists():
            missing.append(directory)
            directory = directory.parent
        for part in reversed(missing):
            with contextlib.suppress(FileExistsError):
                part.mkdir(mode=0o700)


def _read_all(handle: BinaryIO) -> Iterator[bytes]:
    try:
        while chunk := handle.read(READ_SIZE):
            yield chunk
    finally:
        handle.close()
