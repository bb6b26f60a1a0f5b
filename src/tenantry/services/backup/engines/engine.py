"""What protecting and restoring a region's databases needs from a backup tool, whichever it is.

Litestream protects SQLite files and pgBackRest protects PostgreSQL servers; the backup service,
`tenant restore`, `backup restore` and the restore drill speak to either through this interface.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy import URL

Progress = Callable[[str, int, int], None]
"""Told (what is being done, units done, units in all) as long work goes on."""


@dataclass(frozen=True, slots=True)
class Database:
    """One database a backup tool protects, named as the topology names it."""

    shard: str
    """A shard's name, or the global database's."""
    service: str | None
    """On SQLite, the service whose file it is; None on PostgreSQL, where one database holds
    every service's schema."""


@dataclass(frozen=True, slots=True)
class RepositoryState:
    """How one of a database's backup repositories stands now."""

    name: str
    location: str
    reachable: bool
    behind_seconds: float | None
    """How far its copy trails the live database now; None when it holds nothing yet."""


@dataclass(frozen=True, slots=True)
class DatabaseState:
    """How well one database is protected at this moment."""

    database: Database
    tool: str
    last_full_backup: datetime | None
    behind_seconds: float | None
    """The recovery point now: how many seconds of writes a loss would take (worst repository)."""
    oldest_restorable: datetime | None
    repositories: tuple[RepositoryState, ...]
    problems: tuple[str, ...]
    """What is missing or wrong, said plainly; empty when the database is protected."""


class BackupEngine(Protocol):
    """One backup tool, protecting the databases of one region (or the global databases)."""

    tool: str

    def states(self) -> Sequence[DatabaseState]:
        """How every database it protects stands now."""
        ...

    def back_up_now(self, progress: Progress) -> None:
        """Take a full backup of every database now."""
        ...

    def restore_copy(
        self, database: Database, at: datetime | None, scratch: Path
    ) -> AbstractContextManager[URL]:
        """A copy of `database` as it was at `at` (the latest it holds when None), made under
        `scratch` and removed when the context ends; integrity is checked before it is given."""
        ...

    def restore_in_place(self, at: datetime | None, progress: Progress) -> None:
        """Bring every database back from the backups, with the cloud stopped."""
        ...
