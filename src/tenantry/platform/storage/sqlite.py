"""The embedded storage backend: one SQLite file per service per shard under the data directory.

Layout: `<data_dir>/shards/<shard>/<service>.sqlite`, and `<data_dir>/global/<service>.sqlite`
for services that are not sharded. Directories are 0700 and database files 0600 (SQLite gives
its -wal and -shm files the database file's mode), so no other local user can read tenant data.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

from tenantry.platform.storage.backend import GLOBAL_SHARD, check_name
from tenantry.platform.storage.migrations import (
    ServiceSchema,
    create_at_head,
    current_revision,
    fresh_at_head,
    upgrade,
)
from tenantry.platform.storage.move_fence import refuse_fenced_writes

SYNCHRONOUS_ENV = "TENANTRY_SQLITE_SYNCHRONOUS"
"""`full` (the default) or `normal`: see `_pragmas`. Only a throwaway cloud should say `normal`."""
_DIR_MODE = 0o700
_FILE_MODE = 0o600
_POOL_SIZE = 16
_POOL_OVERFLOW = 48


class SqliteBackend:
    """Stores each (service, shard) database as a private SQLite file in WAL mode."""

    def __init__(self, data_dir: Path, busy_timeout_ms: int = 10_000) -> None:
        self.data_dir = Path(data_dir)
        self.busy_timeout_ms = int(busy_timeout_ms)

    def path(self, service: str, shard: str) -> Path:
        """Where the database of `service` on `shard` lives."""
        check_name("service", service)
        check_name("shard", shard)
        if shard == GLOBAL_SHARD:
            return self.data_dir / GLOBAL_SHARD / f"{service}.sqlite"
        return self.data_dir / "shards" / shard / f"{service}.sqlite"

    def open(self, schema: ServiceSchema, shard: str) -> Engine:
        """Upgrade the file to the head revision if it is behind, then hand out its engine.

        The file belongs to the service alone, so the service is its own migrator.
        """
        self.migrate(schema, shard)
        return self.engine(schema.service, shard)

    def migrate(self, schema: ServiceSchema, shard: str) -> None:
        """Apply the missing revisions in one write transaction (BEGIN IMMEDIATE); a new,
        empty file of a schema whose models are its head gets that schema at once instead.

        Two processes opening the same file at once take turns: the second finds it current.
        """
        engine = self._migration_engine(self._create(schema.service, shard))
        try:
            with engine.begin() as connection:
                found = current_revision(connection)
                if found == schema.head:
                    return
                if found is None and fresh_at_head(connection, schema):
                    create_at_head(connection, schema)
                else:
                    upgrade(connection, schema)
        finally:
            engine.dispose()

    def revision(self, schema: ServiceSchema, shard: str) -> str | None:
        """The file's revision; None when the file does not exist yet (it is not created)."""
        path = self.path(schema.service, shard)
        if not path.exists():
            return None
        engine = self._migration_engine(path)
        try:
            with engine.connect() as connection:
                return current_revision(connection)
        finally:
            engine.dispose()

    def engine(self, service: str, shard: str) -> Engine:
        """Create (if needed) the private database file and return a new engine for it."""
        path = self._create(service, shard)
        engine = create_engine(
            URL.create("sqlite+pysqlite", database=str(path)),
            connect_args={"check_same_thread": False},
            # Enough kept connections for a busy worker threadpool, so none is closed and
            # reopened under load; the most recently used goes out first, page cache warm.
            pool_size=_POOL_SIZE,
            max_overflow=_POOL_OVERFLOW,
            pool_use_lifo=True,
            # A failed statement's message must not carry its values (tenant text) into logs.
            hide_parameters=True,
        )
        event.listen(engine, "connect", _pragmas(self.busy_timeout_ms, _synchronous()))
        refuse_fenced_writes(engine)
        return engine

    def _create(self, service: str, shard: str) -> Path:
        path = self.path(service, shard)
        _make_private_dirs(self.data_dir, path.parent)
        _make_private_file(path)
        return path

    def _migration_engine(self, path: Path) -> Engine:
        """An engine whose transactions really begin, so schema changes roll back on failure.

        By default the sqlite3 module begins a transaction only before data changes, which
        would commit each CREATE or ALTER at once; this engine takes control of BEGIN itself.
        """
        engine = create_engine(
            URL.create("sqlite+pysqlite", database=str(path)),
            connect_args={"check_same_thread": False},
            poolclass=NullPool,
        )
        pragmas = _pragmas(self.busy_timeout_ms, _synchronous())

        def on_connect(dbapi_connection: Any, record: Any) -> None:
            pragmas(dbapi_connection, record)
            dbapi_connection.isolation_level = None

        def on_begin(connection: Connection) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        event.listen(engine, "connect", on_connect)
        event.listen(engine, "begin", on_begin)
        return engine


def _synchronous() -> str:
    """The sync level asked for in the environment, FULL when nothing is said."""
    level = os.environ.get(SYNCHRONOUS_ENV, "full").strip().upper()
    if level not in ("FULL", "NORMAL"):
        raise ValueError(f"{SYNCHRONOUS_ENV} must be full or normal, not {level.lower()!r}")
    return level


def _pragmas(busy_timeout_ms: int, synchronous: str) -> Any:
    """Build the per-connection setup: WAL, the sync level, a busy wait, enforced foreign keys.

    FULL (the default) syncs the write-ahead log at every commit, so a commit that was answered
    survives a power loss or an OS crash. NORMAL only survives a process crash: the last commits
    could roll back, and each service's database would roll back on its own, so data sealed with
    a data key could outlive the kms row that holds the key. NORMAL is for clouds nobody keeps,
    like the test suite's, where the syncs would cost a third of the run.
    """

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={synchronous}")
            cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms:d}")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    return on_connect


def _make_private_dirs(root: Path, leaf: Path) -> None:
    """Create `leaf` and its parents up to `root`, every directory this creates being 0700."""
    root.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
    current = root
    for part in leaf.relative_to(root).parts:
        current = current / part
        current.mkdir(mode=_DIR_MODE, exist_ok=True)
        # mkdir's mode is filtered by the umask; the directories under root must be private.
        os.chmod(current, _DIR_MODE)


def _make_private_file(path: Path) -> None:
    """Create the database file as 0600 before SQLite opens it (never through a symlink)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, _FILE_MODE)
    try:
        os.fchmod(fd, _FILE_MODE)
    finally:
        os.close(fd)
