"""Which storage backend this test run uses, and fresh databases on it.

`make test` runs the suite twice: with `TENANTRY_TEST_BACKEND=sqlite` (the default) and with
`TENANTRY_TEST_BACKEND=postgres`, against the server on 127.0.0.1:5432. Tests of one backend's
own tool leave themselves out of the other run (`tests/backup/conftest.py`: Litestream's on
PostgreSQL; pgBackRest's own a cluster and run once). Every PostgreSQL
database and role a run makes is named after `RUN_PREFIX`, and dropped when the run ends.

The second run holds only the tests whose outcome depends on the backend: those marked
`backend`, which is every test that uses the `storage_backend` fixture (directly, or through a
fixture that does, such as the shared clouds) and every test marked by hand. A test that opens
the run's backend (`fresh_databases`, or a cloud started on it) without the mark fails with a
message saying so (`claim_backend`), so no storage test is silently left out of the second run.

A test marked `backend_neutral` uses a cloud but checks what no storage backend changes (the
edge's validation chain, token attacks, TLS, rate and login counts, which process holds which
credential): it runs once, in the SQLite run, and the PostgreSQL run does not repeat it. The
mark is a claim made by hand, file by file, and so reviewed like code.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

from sqlalchemy import Engine, create_engine

from postgres_server import SERVER, drop_databases_and_roles, server_engine
from tenantry.platform.storage import Databases, ServiceSchema, SqliteBackend
from tenantry.platform.storage.postgres import PostgresBackend
from tenantry.platform.storage.postgres_databases import ensure_database

BACKENDS = ("sqlite", "postgres")
BACKEND = os.environ.get("TENANTRY_TEST_BACKEND", "sqlite")
if BACKEND not in BACKENDS:
    raise RuntimeError(f"TENANTRY_TEST_BACKEND must be one of {BACKENDS}, not {BACKEND!r}")

RUN_PREFIX = f"tr{uuid.uuid4().hex[:8]}"
"""Names every database and role this test process makes (one per xdist worker)."""

MARKER = "backend"
"""The mark of a test that runs on each backend (`pytest -m backend` selects them)."""
NEUTRAL = "backend_neutral"
"""The mark of a test that uses a cloud but whose outcome no storage backend changes."""
FIXTURE = "storage_backend"
"""The fixture that marks the tests depending on it (tests/conftest.py defines it)."""


class UndeclaredBackendUse(AssertionError):
    """A test opened the run's backend without being marked to run on each backend."""


_current_test_marked: bool | None = None
"""Whether the test being run is marked `backend`; None outside any test (set by conftest)."""


def running_test(marked: bool | None) -> None:
    """Record whether the test now running is marked `backend` (None once it is over)."""
    global _current_test_marked
    _current_test_marked = marked


def claim_backend(what: str) -> None:
    """Refuse `what` (which stores data on the run's backend) in a test not marked `backend`."""
    if _current_test_marked is False:
        raise UndeclaredBackendUse(
            f"this test uses {what} on the run's storage backend but is not marked "
            f"`{MARKER}`, so the PostgreSQL run would leave it out: have its fixture (or the "
            f"test) use the `{FIXTURE}` fixture, or mark it `@pytest.mark.{MARKER}`"
        )


class FreshPostgres:
    """A PostgreSQL backend giving each shard a database of its own, migrated on first use.

    Stands in for `tenantry migrate` in tests that open a service's databases directly. The
    databases outlive one test (making them is slow); `empty()` clears them between tests.
    """

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.databases: dict[str, str] = {}
        self._migrated: set[tuple[str, str]] = set()
        self._backend = PostgresBackend({}, role_prefix=RUN_PREFIX)

    def open(self, schema: ServiceSchema, shard: str) -> Engine:
        if shard not in self.databases:
            name = f"{RUN_PREFIX}_{self.tag}_{shard.replace('-', '_')}"
            ensure_database(f"{SERVER}/{name}")
            self.databases[shard] = name
            self._backend = PostgresBackend(
                {s: f"{SERVER}/{d}" for s, d in self.databases.items()}, role_prefix=RUN_PREFIX
            )
        if (schema.service, shard) not in self._migrated:
            self._backend.migrate(schema, shard)
            self._migrated.add((schema.service, shard))
        return self._backend.open(schema, shard)

    def empty(self, schema: ServiceSchema) -> None:
        """Delete every row of the service's tables on every shard (as the administrator)."""
        tables = ", ".join(f'"{schema.service}"."{t}"' for t in schema.metadata.tables)
        for database in self.databases.values():
            admin = create_engine(f"{SERVER}/{database}".replace("://", "+psycopg://"))
            try:
                with admin.begin() as connection:
                    connection.exec_driver_sql(f"TRUNCATE {tables} CASCADE")
            finally:
                admin.dispose()


_SHARED_POSTGRES: dict[str, FreshPostgres] = {}


@contextmanager
def fresh_databases(
    schema: ServiceSchema, tmp_path: Path, backend: str | None = None
) -> Iterator[Databases]:
    """A service's databases on `backend` (the run's by default), empty at the start of the
    block."""
    if backend is None:
        claim_backend(f"{schema.service}'s databases")
        backend = BACKEND
    if backend == "sqlite":
        databases = Databases(schema, SqliteBackend(tmp_path / "data"))
        try:
            yield databases
        finally:
            databases.dispose()
        return
    postgres = _SHARED_POSTGRES.setdefault(schema.service, FreshPostgres(schema.service))
    databases = Databases(schema, postgres)
    try:
        yield databases
    finally:
        databases.dispose()
        postgres.empty(schema)


def one_shard_per_region(topology: str) -> str:
    """`topology` (TOML) with only the first shard of each region.

    Every service keeps a connection pool per shard in every process, and the test server has
    PostgreSQL's default 100 connections for every cloud the two test processes run at once;
    clouds with half the shards leave room for them. Tests of several shards per region name
    their own topology.
    """
    return re.sub(r"(shards = \[\{[^}]*\}),[^\]]*\]", r"\1]", topology)


def postgres_topology(data_dir: Path, base: str | None = None) -> tuple[str, list[str]]:
    """The topology `base` (TOML; the built-in one by default) with a database for every shard.

    The names derive from `data_dir`, so a cloud restarted on the same directory finds its
    databases again. Returns the TOML and the database names.
    """
    if base is None:
        base = one_shard_per_region(
            resources.files("tenantry.platform").joinpath("default_topology.toml").read_text()
        )
    tag = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:8]
    names: dict[str, str] = {}

    def with_dsn(match: re.Match[str]) -> str:
        shard = match.group(1)
        names[shard] = f"{RUN_PREFIX}_{tag}_{shard.replace('-', '_')}"
        return f'{match.group(0)[:-1].rstrip()}, dsn = "{SERVER}/{names[shard]}" }}'

    shards = re.sub(r'\{\s*name\s*=\s*"([a-z0-9-]+)"[^}]*\}', with_dsn, base)
    names["global"] = f"{RUN_PREFIX}_{tag}_global"
    head = (
        f'[global]\ndsn = "{SERVER}/{names["global"]}"\n\n'
        # No idle connections: two test processes keep several clouds each, which would fill the
        # shared server's hundred connections with a connection per service and database.
        f'[postgres]\nrole_prefix = "{RUN_PREFIX}"\npool_size = 0\n\n'
    )
    return head + shards, list(names.values())


def drop_run_databases() -> None:
    """Drop every database and role this test process made (at the end of the run)."""
    server = server_engine()
    try:
        with server.connect() as connection:
            names = connection.exec_driver_sql(
                "SELECT datname FROM pg_database WHERE starts_with(datname, %(p)s)",
                {"p": RUN_PREFIX},
            ).scalars()
            databases = list(names)
    finally:
        server.dispose()
    drop_databases_and_roles(databases, role_prefix=RUN_PREFIX)
