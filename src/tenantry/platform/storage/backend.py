"""The seam between services and where their databases live (SQLite files or PostgreSQL).

A service never builds an engine itself; it asks a backend to open its schema on one shard, so
the same service code runs on the embedded default and on a fleet. Building and upgrading the
schema (`migrate`) is the operator's step on PostgreSQL; SQLite files upgrade as they open.
"""

from __future__ import annotations

import re
from typing import Protocol

from sqlalchemy import Engine

from tenantry.platform.storage.migrations import ServiceSchema

GLOBAL_SHARD = "global"
"""The shard name of services that are not sharded (identity, tcs)."""

_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")


class StorageBackend(Protocol):
    """Opens and migrates one database per (service, shard): no service sees another's."""

    def open(self, schema: ServiceSchema, shard: str) -> Engine:
        """An engine for the service's database on `shard`, its schema checked to be current."""
        ...

    def migrate(self, schema: ServiceSchema, shard: str) -> None:
        """Bring the service's database on `shard` to the head revision, all or nothing."""
        ...

    def revision(self, schema: ServiceSchema, shard: str) -> str | None:
        """The revision the service's database on `shard` is at (None if never migrated)."""
        ...


def check_name(kind: str, value: str) -> str:
    """Refuse service and shard names that could escape a directory or a schema name."""
    if not _NAME.fullmatch(value):
        raise ValueError(f"invalid {kind} name {value!r}: must match {_NAME.pattern}")
    return value
