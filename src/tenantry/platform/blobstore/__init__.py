"""Blob stores: where media and backups keep bytes. Only those two services may import this.

The import-linter contract "only media and backup touch blob stores" guards this package; the
implementations (a local directory, S3) live in one module each beside this one.
"""

from __future__ import annotations

from typing import Protocol


class BlobStore(Protocol):
    """Keeps opaque, already-encrypted byte strings under keys."""

    def put(self, key: str, data: bytes) -> None:
        """Store `data` under `key`, replacing what was there."""

    def get(self, key: str) -> bytes:
        """The bytes under `key`; raises KeyError when there are none."""

    def delete(self, key: str) -> None:
        """Remove `key`; no error when it is already gone."""
