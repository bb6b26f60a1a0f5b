"""Copying a region's media blobs into its backup repositories, on either backend.

Blobs are sealed per tenant already, so they are copied as they are; media never deletes one
before the retention window ends, so a restore finds every blob its rows name.
"""

from __future__ import annotations

from pathlib import Path

from tenantry.services.backup.layout import Repository
from tenantry.services.backup.sealed_files import copy_file


class MediaCopier:
    """Copies what is new in a media store into repositories, remembering what it has seen."""

    def __init__(self) -> None:
        self._seen: dict[Path, tuple[int, int]] = {}

    def ship(self, store: Path, repository: Repository) -> int:
        """Copy the blobs of `store` that `repository` lacks; the files written."""
        written = 0
        for path in store.rglob("*"):
            if path.name.startswith(".") or not path.is_file():
                continue
            try:
                info = path.stat()
            except FileNotFoundError:
                continue
            target = repository.media_dir / path.relative_to(store)
            seen = (info.st_size, info.st_mtime_ns)
            if self._seen.get(target) == seen:
                continue
            if not (target.exists() and target.stat().st_size == info.st_size):
                try:
                    copy_file(path, target)
                except FileNotFoundError:
                    continue
                written += 1
            self._seen[target] = seen
        return written
