"""Versioned schemas: each service's tables are built and changed only by its Alembic revisions.

A service declares a `ServiceSchema`: its name, its models' metadata, and the directory of its
revisions (`<service>/migrations/`, with an `env.py` that calls `run_revisions`). Backends
apply the revisions with `upgrade()` on a connection they have already opened in a transaction,
so a shard either reaches the head revision or stays exactly as it was. Revisions are written by
hand (or drafted with Alembic's autogenerate and then reviewed); a test compares the head schema
with the models so the two cannot drift.

A service declares its head revision too (`head_revision`; a test checks it against Alembic's
own reading of the revisions), so a serving process, which only checks that its databases are
current, never loads Alembic: only migrating does.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from sqlalchemy import Connection, MetaData, column, inspect, select, table

_CONNECTION = "connection"
# Alembic keeps the migration under way in module globals: one at a time per process.
_ALEMBIC = threading.Lock()
_VERSION_SCHEMA = "version_table_schema"
VERSION_TABLE = "alembic_version"
"""Where Alembic records a database's revision (its default name)."""


class SchemaNotCurrentError(RuntimeError):
    """A service opened a database whose schema is not at the revision its code expects."""


@dataclass(frozen=True)
class ServiceSchema:
    """What one service keeps in each of its databases, and how that is built."""

    service: str
    metadata: MetaData
    migrations: Path
    head_revision: str | None = None
    """The last revision in `migrations`, as declared: the models are that revision's schema.
    None to have Alembic read the head (and build every database by its revisions)."""

    @cached_property
    def head(self) -> str:
        """The revision the code expects every database of this service to be at."""
        return self.head_revision or revisions_head(self.migrations)


def revisions_head(migrations: Path) -> str:
    """The head revision of a directory of revisions, as Alembic reads it."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory(str(migrations)).get_current_head()
    if head is None:
        raise ValueError(f"{migrations} holds no revisions")
    return head


def current_revision(connection: Connection, version_schema: str | None = None) -> str | None:
    """The revision a database is at (None when no revision was ever applied).

    Read from Alembic's version table with one query (the revisions are linear: one row).
    """
    if not inspect(connection).has_table(VERSION_TABLE, schema=version_schema):
        return None
    versions = table(VERSION_TABLE, column("version_num"), schema=version_schema)
    found = connection.execute(select(versions.c.version_num)).scalars().all()
    if len(found) > 1:
        raise SchemaNotCurrentError(f"the database has several revisions at once: {found}")
    return str(found[0]) if found else None


def upgrade(
    connection: Connection, schema: ServiceSchema, version_schema: str | None = None
) -> None:
    """Apply every revision after the database's current one, inside the caller's transaction.

    `version_schema` is where the revision table lives (the service's own PostgreSQL schema;
    None on SQLite). The caller owns the transaction, so a failing revision leaves nothing
    behind once the caller rolls back.
    """
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(schema.migrations))
    config.attributes[_CONNECTION] = connection
    config.attributes[_VERSION_SCHEMA] = version_schema
    with _ALEMBIC:
        command.upgrade(config, "head")


def fresh_at_head(connection: Connection, schema: ServiceSchema) -> bool:
    """True when the database holds no table yet and the schema's models are its head revision
    (it declares `head_revision`, which a test holds true): `create_at_head` may build it."""
    return schema.head_revision is not None and not inspect(connection).get_table_names()


def create_at_head(connection: Connection, schema: ServiceSchema) -> None:
    """Build a new, empty database's tables straight at the head revision, and record it.

    The same schema the revisions build (a test holds them equal), at a fraction of the cost:
    one CREATE per table instead of every revision in turn. Inside the caller's transaction.
    """
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    schema.metadata.create_all(connection)
    context = MigrationContext.configure(connection)
    context.stamp(ScriptDirectory(str(schema.migrations)), schema.head)


def run_revisions(metadata: MetaData) -> None:
    """The body of every service's `migrations/env.py`: run on the connection `upgrade()` gave.

    Alembic executes `env.py` with its `context` module set up; the revisions then run on that
    connection and within its transaction.
    """
    from alembic import context

    connection = context.config.attributes.get(_CONNECTION)
    if connection is None:
        raise SystemExit("run revisions with `tenantry migrate`, which connects as the owner role")
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table_schema=context.config.attributes.get(_VERSION_SCHEMA),
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def require_current(
    connection: Connection, schema: ServiceSchema, where: str, version_schema: str | None = None
) -> None:
    """Refuse to serve from a database that is behind (or ahead of) this code's schema."""
    found = current_revision(connection, version_schema)
    expected = schema.head
    if found != expected:
        raise SchemaNotCurrentError(
            f"the {schema.service} schema on {where} is at revision {found or 'none'}, "
            f"this code needs {expected}: run `tenantry migrate` (with the same --config)"
        )
