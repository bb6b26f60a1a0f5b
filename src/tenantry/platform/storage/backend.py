"""The seam between services and where their databases live (SQLite files or PostgreSQL).

A service never builds an engine itself; it asks a backend for the engine of one service on one
shard, so the same service code runs on the embedded default and on a fleet.
"""

from __future__ import annotations

import re
from typing import Protocol

from sqlalchemy import Engine

GLOBAL_SHARD = "global"
"""The shard name of services that are not sharded (identity, tcs)."""

_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")


class StorageBackend(Protocol):
    """Hands out one engine per (service, shard): each service has its own database per shard."""

    def engine(self, service: str, shard: str) -> Engine:
        """Return an engine for `service`'s database on `shard` (creating the database if new)."""
        ...


def check_name(kind: str, value: str) -> str:
    """Refuse service and shard names that could escape a directory or a schema name."""
    if not _NAME.fullmatch(value):
        raise ValueError(f"invalid {kind} name {value!r}: must match {_NAME.pattern}")
    return value
