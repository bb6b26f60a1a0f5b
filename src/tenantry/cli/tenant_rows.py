"""One tenant's rows of a service database: find, read, replace and checksum them.

A tenant restore puts rows from a scratch copy back into the live database; a tenant move puts
them from the tenant's old shard into its new one. Both copy the rows of every tenant-scoped
table (every table of the service's schema with a `tenant_id` column) and prove the copy with
a count and a checksum per table, the same way, so both use this.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table, and_, delete, insert, select, update

from tenantry.platform.storage.migrations import ServiceSchema

TENANT_COLUMN = "tenant_id"
CLOUD_ID_COLUMN = "cloud_id"

Row = tuple[Any, ...]


class RowsDiffer(RuntimeError):
    """The rows of a table in two databases are not the same (count or checksum)."""


def tenant_tables(schema: ServiceSchema) -> list[Table]:
    """The service's tables that hold tenants' rows, parents before children."""
    return [t for t in schema.metadata.sorted_tables if TENANT_COLUMN in t.c]


def bookkeeping_tables(schema: ServiceSchema) -> list[Table]:
    """The service's tables of per-tenant bookkeeping: keyed by the tenant's `cloud_id` (its
    audit tree's size, its pending previews, a note that a loop has work for it) rather than
    scoped by `tenant_id`."""
    return [
        t
        for t in schema.metadata.sorted_tables
        if TENANT_COLUMN not in t.c and CLOUD_ID_COLUMN in t.primary_key.columns
    ]


def owner_column(table: Table) -> Any:
    """The column naming the tenant a row of `table` belongs to."""
    return table.c[TENANT_COLUMN] if TENANT_COLUMN in table.c else table.c[CLOUD_ID_COLUMN]


def tenant_rows(connection: Connection, table: Table, tenant_id: str) -> list[Row]:
    """Every row of the tenant in `table`, in primary-key order."""
    statement = (
        select(table).where(owner_column(table) == tenant_id).order_by(*table.primary_key.columns)
    )
    return [tuple(row) for row in connection.execute(statement)]


def checksum(rows: Sequence[Row]) -> str:
    """A digest of rows in the order given (primary-key order, as `tenant_rows` reads them)."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(repr(row).encode())
    return digest.hexdigest()


def replace_tenant_rows(
    connection: Connection, tables: Sequence[Table], tenant_id: str, wanted: Mapping[str, list[Row]]
) -> int:
    """Make the tenant's rows of each table exactly `wanted[table]`, in the caller's transaction;
    the number of rows written."""
    for table in reversed(tables):
        connection.execute(delete(table).where(owner_column(table) == tenant_id))
    total = 0
    for table in tables:
        rows = wanted[table.name]
        if rows:
            names = [c.name for c in table.columns]
            connection.execute(insert(table), [dict(zip(names, r, strict=True)) for r in rows])
        total += len(rows)
    return total


def check_same(
    connection: Connection,
    tables: Iterable[Table],
    tenant_id: str,
    expected: Mapping[str, list[Row]],
    where: str,
) -> None:
    """Raise RowsDiffer unless the tenant's rows of each table count and checksum as
    `expected` does; `where` names the database in the message."""
    for table in tables:
        now = tenant_rows(connection, table, tenant_id)
        wanted = expected[table.name]
        if len(now) != len(wanted) or checksum(now) != checksum(wanted):
            raise RowsDiffer(
                f"{where}.{table.name}: {len(now)} rows against {len(wanted)} expected, "
                "or their checksums differ"
            )


def key_filter(table: Table, key: Sequence[Any]) -> Any:
    """The condition naming one row of `table` by its primary key values, in key order."""
    columns = list(table.primary_key.columns)
    return and_(*(column == value for column, value in zip(columns, key, strict=True)))


def copy_keyed_rows(
    source: Connection, target: Connection, tables: Sequence[Table], keys: Mapping[str, set[Row]]
) -> int:
    """Make each row named in `keys` (by table, then primary key) in `target` what it is in
    `source`: written if it is there, deleted if it is not; the number of rows touched.

    Writes go parents first and deletions children first, and a row that stays is updated in
    place, never deleted and put back, so foreign keys (and their cascades) hold throughout.
    """
    gone: list[tuple[Table, Row]] = []
    for table in tables:
        names = [c.name for c in table.columns]
        for key in sorted(keys.get(table.name, ()), key=repr):
            where = key_filter(table, key)
            row = source.execute(select(table).where(where)).first()
            if row is None:
                gone.append((table, key))
                continue
            values = dict(zip(names, tuple(row), strict=True))
            if target.execute(update(table).where(where).values(values)).rowcount == 0:
                target.execute(insert(table).values(values))
    for table, key in reversed(gone):
        target.execute(delete(table).where(key_filter(table, key)))
    return sum(len(keys.get(table.name, ())) for table in tables)
