"""Plain snapshots of stored rows, which the store hands to routes instead of ORM objects."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class StoredSpace:
    """One space of the current tenant."""

    key: str
    name: str


@dataclass(frozen=True, slots=True)
class StoredPage:
    """One page of the current tenant as it is now, its title and body opened."""

    id: str
    space_key: str
    parent_id: str | None
    position: int
    title: str
    body: dict[str, Any]
    version: int
    created_by: str
    updated_by: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class StoredVersion:
    """One saved version of a page, its title and body opened."""

    page_id: str
    version: int
    title: str
    body: dict[str, Any]
    author: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class TreeEntry:
    """A live page's place in its space's tree (no body: the tree is read whole)."""

    id: str
    parent_id: str | None
    position: int
    title: str
