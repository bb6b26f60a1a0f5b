"""Plain snapshots of stored rows, which the store hands to routes instead of ORM objects.

The store reads and writes through the tenant session's row door (no identity map, no unit of
work), so what it returns is a value: cheap to build, safe to use after the session closes.
Field order matches the column tuples in `store`, so a row unpacks straight into a record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class StoredProject:
    """One project of the current tenant."""

    key: str
    name: str


@dataclass(frozen=True, slots=True)
class StoredIssue:
    """One issue of the current tenant; `version` guards changes against lost updates."""

    id: str
    project_key: str
    number: int
    summary: str
    description: str
    status: str
    assignee: str | None
    reporter: str
    labels: list[str]
    created_at: datetime
    updated_at: datetime
    version: int

    @property
    def key(self) -> str:
        """The issue's human key, e.g. `OPS-12`."""
        return f"{self.project_key}-{self.number}"


@dataclass(frozen=True, slots=True)
class StoredComment:
    """One comment on an issue."""

    id: str
    issue_id: str
    body: str
    author: str
    created_at: datetime
