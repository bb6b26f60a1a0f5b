"""Writing secrets and shared files safely: all-or-nothing, with their mode from the start, and
one writer at a time across the processes of a cloud."""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
from collections.abc import Iterable, Iterator
from pathlib import Path


def write_atomically(path: Path, data: bytes, mode: int) -> None:
    """Write a file so readers see either nothing or all of it, with `mode` from the start."""
    write_chunks_atomically(path, [data], mode)


def write_chunks_atomically(path: Path, chunks: Iterable[bytes], mode: int) -> int:
    """Write `chunks` as the file `path`, all or nothing and durably; the bytes written.

    They go to a temporary file beside it (created with `mode`, never following a link), which
    is flushed to disk and then renamed over `path`; the directory is synced so the rename
    survives a crash too. A failure part way leaves `path` as it was.
    """
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    written = 0
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            for chunk in chunks:
                handle.write(chunk)
                written += len(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return written


@contextlib.contextmanager
def directory_lock(directory: Path) -> Iterator[None]:
    """Hold an exclusive lock on `directory` (created 0700 if missing) across processes."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
