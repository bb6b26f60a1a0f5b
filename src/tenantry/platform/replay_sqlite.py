"""A replay cache in one SQLite file, shared by every process of a service on one machine.

The embedded default: no server to run, and SQLite's locking makes the check-and-remember atomic
across processes.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

from tenantry.platform.replay import ReplayStoreUnavailable

# Expired rows are deleted every this many calls (and at most this often), not on every call.
PURGE_EVERY_CALLS = 1000
PURGE_EVERY_SECONDS = 60.0
_SETUP_ATTEMPTS = 50


class SqliteReplayCache:
    """Remember token ids in a WAL-mode SQLite table keyed by the id.

    One `INSERT ... ON CONFLICT DO UPDATE ... WHERE expired` statement both checks and records a
    key, so two processes racing on the same key cannot both see a first use. The file is
    created 0600: whoever can delete its rows can replay tokens.
    """

    def __init__(self, path: Path, *, busy_timeout_ms: int = 5000) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        self._db = sqlite3.connect(
            path, timeout=busy_timeout_ms / 1000, isolation_level=None, check_same_thread=False
        )
        self._lock = threading.Lock()
        self._calls = 0
        self._next_purge = 0.0
        self._setup(busy_timeout_ms)

    def _setup(self, busy_timeout_ms: int) -> None:
        self._db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        for attempt in range(_SETUP_ATTEMPTS):
            # Switching to WAL needs a moment of exclusive access and does not always wait for
            # it, so processes starting together retry briefly.
            try:
                self._db.execute("PRAGMA journal_mode = WAL")
                # Unlike tenant data, losing the last entries to a power loss is harmless:
                # they are for tokens that expire within minutes, before a rebooted cloud is up.
                self._db.execute("PRAGMA synchronous = NORMAL")
                self._db.execute(
                    "CREATE TABLE IF NOT EXISTS seen ("
                    " key TEXT PRIMARY KEY, expires_at REAL NOT NULL) WITHOUT ROWID"
                )
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == _SETUP_ATTEMPTS - 1:
                    raise
                time.sleep(0.02)

    async def first_use(self, key: str, expires_at: float) -> bool:
        """Atomically remember `key` until `expires_at`; True only the first time.

        One statement on a local file, done in place: a hop to a worker thread would cost more.
        """
        now = time.time()
        with self._lock:
            try:
                cursor = self._db.execute(
                    "INSERT INTO seen (key, expires_at) VALUES (?, ?)"
                    " ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at"
                    " WHERE seen.expires_at <= ?",
                    (key, expires_at, now),
                )
                first = cursor.rowcount == 1
                self._calls += 1
                if self._calls >= PURGE_EVERY_CALLS or now >= self._next_purge:
                    self._purge(now)
            except sqlite3.Error as exc:  # locked past the busy timeout, disk full, ...
                raise ReplayStoreUnavailable(f"sqlite: {exc}") from exc
        return first

    def purge(self) -> int:
        """Delete every expired row now; return how many were deleted."""
        with self._lock:
            return self._purge(time.time())

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()

    def _purge(self, now: float) -> int:
        self._calls = 0
        self._next_purge = now + PURGE_EVERY_SECONDS
        return self._db.execute("DELETE FROM seen WHERE expires_at <= ?", (now,)).rowcount
