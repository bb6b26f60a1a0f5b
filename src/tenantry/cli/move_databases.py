"""The mover's own connections to a tenant's service databases on its old and new shards.

The mover works as the databases' administrator (SQLite: the file itself; PostgreSQL: the
topology's administrator DSN, which row-level security does not bind), with the service's
schema as search path. Every statement it makes names the moving tenant. Each database gets
two engines: one whose transactions are snapshots (reads of the source that must agree with
each other), and one whose transactions take the write lock at once.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from tenantry.platform.storage.choose import postgres_backend
from tenantry.platform.storage.move_fence import (
    FENCE_TRIGGER,
    postgres_statements,
    sqlite_statements,
)
from tenantry.platform.storage.sqlite import SqliteBackend
from tenantry.platform.topology import Topology

_BUSY_TIMEOUT_MS = 10_000
_SETTLE_TIMEOUT_SECONDS = 10.0


class SettleTimeout(RuntimeError):
    """Transactions that began before a fence change did not end in time."""


@dataclass
class ServiceDatabase:
    """One service's database on one shard, as the mover reaches it."""

    service: str
    shard: str
    tables: list[Table]
    """The tenant-scoped tables (by `tenant_id`): fenced, captured and caught up."""
    bookkeeping: list[Table]
    """The tenant's bookkeeping tables (by `cloud_id`): copied whole while it is frozen."""
    snapshot: Engine
    writer: Engine
    postgres: bool
    owner_role: str | None
    service_role: str | None

    @property
    def name(self) -> str:
        """`shard/service`, as messages and the journal name it."""
        return f"{self.shard}/{self.service}"

    def install_fence(self) -> None:
        """Create the fence's tables and triggers here, if they are not there yet.

        On PostgreSQL an installed fence is left alone rather than installed again: doing it
        again locks `tenantry_moves` and then each table, while a writer holding its table
        waits in the trigger for `tenantry_moves`, which deadlocks.
        """
        with self.writer.begin() as connection:
            if self.postgres and self._fenced(connection):
                return
            if self.postgres:
                assert self.owner_role is not None
                connection.exec_driver_sql(f'SET LOCAL ROLE "{self.owner_role}"')
                assert self.service_role is not None
                statements = postgres_statements(self.service, self.tables, self.service_role)
            else:
                statements = sqlite_statements(self.tables)
            for statement in statements:
                connection.exec_driver_sql(statement)

    def _fenced(self, connection: Connection) -> bool:
        """Whether every tenant-scoped table here has the fence's trigger (PostgreSQL)."""
        names = [table.name for table in self.tables]
        found = connection.exec_driver_sql(
            "SELECT count(*) FROM pg_catalog.pg_trigger t"
            " JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid"
            " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
            " WHERE t.tgname = %(trigger)s AND n.nspname = %(schema)s"
            " AND c.relname = ANY(%(names)s)",
            {"trigger": FENCE_TRIGGER, "schema": self.service, "names": names},
        ).scalar_one()
        return int(found) == len(names)

    def settle(self) -> None:
        """Wait until every write transaction that began before now has ended (PostgreSQL).

        A PostgreSQL statement sees the fence state committed before it began, so a write that
        began just before a change of state may still commit after it; once no such
        transaction is left, every later write sees the new state. SQLite writers take turns
        on the database's write lock, so each one sees the state as it is.
        """
        if not self.postgres:
            return
        deadline = time.monotonic() + _SETTLE_TIMEOUT_SECONDS
        with self.writer.connect() as connection:
            now = connection.exec_driver_sql("SELECT clock_timestamp()").scalar_one()
            connection.commit()
            while True:
                older = connection.exec_driver_sql(
                    "SELECT count(*) FROM pg_catalog.pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    " AND xact_start < %(now)s"
                    " AND (backend_xid IS NOT NULL OR state = 'active')",
                    {"now": now},
                ).scalar_one()
                connection.commit()
                if older == 0:
                    return
                if time.monotonic() > deadline:
                    raise SettleTimeout(
                        f"{self.name}: {older} transactions older than the move's fence are "
                        f"still open after {_SETTLE_TIMEOUT_SECONDS:.0f} s"
                    )
                time.sleep(0.01)

    def dispose(self) -> None:
        """Close both engines."""
        self.snapshot.dispose()
        self.writer.dispose()


def open_database(
    data_dir: Path,
    topology: Topology,
    service: str,
    shard: str,
    tables: list[Table],
    bookkeeping: list[Table] | None = None,
) -> ServiceDatabase:
    """The mover's engines for `service` on `shard`."""
    if topology.uses_postgres:
        dsn = topology.shards[shard].dsn
        assert dsn is not None
        url = make_url(dsn).set(drivername="postgresql+psycopg")
        options = {"options": f'-c search_path="{service}"'}
        snapshot = create_engine(
            url, poolclass=NullPool, connect_args=options, isolation_level="REPEATABLE READ"
        )
        writer = create_engine(url, poolclass=NullPool, connect_args=options)
        backend = postgres_backend(topology)
        return ServiceDatabase(
            service,
            shard,
            tables,
            bookkeeping or [],
            snapshot,
            writer,
            True,
            backend.owner_role(service),
            backend.service_role(service),
        )
    path = SqliteBackend(data_dir).path(service, shard)
    return ServiceDatabase(
        service,
        shard,
        tables,
        bookkeeping or [],
        _sqlite_engine(path, "BEGIN"),
        _sqlite_engine(path, "BEGIN IMMEDIATE"),
        False,
        None,
        None,
    )


def _sqlite_engine(path: Path, begin: str) -> Engine:
    """An engine whose transactions really begin (`begin`), so reads in one agree."""
    engine = create_engine(f"sqlite+pysqlite:///{path}", poolclass=NullPool)

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        dbapi_connection.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        dbapi_connection.execute("PRAGMA foreign_keys = ON")

    def on_begin(connection: Connection) -> None:
        connection.exec_driver_sql(begin)

    event.listen(engine, "connect", on_connect)
    event.listen(engine, "begin", on_begin)
    return engine


def logical_replication_problems(topology: Topology) -> list[str]:
    """Each PostgreSQL server of the topology that is not set up for logical replication."""
    if not topology.uses_postgres:
        return []
    problems: list[str] = []
    seen: set[tuple[Any, Any]] = set()
    for shard in topology.shards.values():
        assert shard.dsn is not None
        url = make_url(shard.dsn).set(drivername="postgresql+psycopg")
        if (url.host, url.port) in seen:
            continue
        seen.add((url.host, url.port))
        engine = create_engine(url, poolclass=NullPool)
        try:
            with engine.connect() as connection:
                level = connection.exec_driver_sql("SHOW wal_level").scalar_one()
        finally:
            engine.dispose()
        if level != "logical":
            problems.append(
                f"PostgreSQL at {url.host}:{url.port or 5432} has wal_level={level}, not logical"
            )
    return problems


@contextmanager
def opened(databases: list[ServiceDatabase]) -> Iterator[list[ServiceDatabase]]:
    """The databases, disposed of when the block ends."""
    try:
        yield databases
    finally:
        for database in databases:
            database.dispose()
