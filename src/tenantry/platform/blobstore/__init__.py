"""Blob stores: where media and backups keep bytes. Only those two services may import this.

The import-linter contract "only media and backup touch blob stores" guards this package; the
implementations (a local directory, S3) live in one module each beside this one, and
`choose.blob_store_from_env` picks one from the owning process's environment.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Protocol

MAX_KEY_LENGTH = 512
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=-]*(/[A-Za-z0-9][A-Za-z0-9._=-]*)*$")


class InvalidBlobKey(ValueError):
    """A key that could name something outside the store (or nothing sensible) was refused."""


def check_key(key: str) -> str:
    """Return `key` if it is a safe relative name: `/`-separated segments, none starting with
    a dot (so no `..`), no empty segments, no backslashes or control characters."""
    if not isinstance(key, str) or not 0 < len(key) <= MAX_KEY_LENGTH or not _KEY.match(key):
        raise InvalidBlobKey(f"blob key {key!r} is not allowed")
    return key


class BlobStore(Protocol):
    """Keeps opaque, already-encrypted byte strings under keys."""

    def put(self, key: str, data: bytes) -> None:
        """Store `data` under `key`, replacing what was there."""

    def put_chunks(self, key: str, chunks: Iterable[bytes]) -> int:
        """Store the concatenated `chunks` under `key` all-or-nothing; the bytes written."""

    def get(self, key: str) -> bytes:
        """The bytes under `key`; raises KeyError when there are none."""

    def open(self, key: str) -> Iterator[bytes]:
        """The bytes under `key` in pieces; KeyError (raised at once) when there are none."""

    def exists(self, key: str) -> bool:
        """True when `key` holds bytes."""

    def delete(self, key: str) -> None:
        """Remove `key`; no error when it is already gone."""

    def delete_prefix(self, prefix: str) -> None:
        """Remove every key under `prefix/`; no error when there are none."""
