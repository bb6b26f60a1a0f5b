"""Pages in the site's trash: a deleted page goes there with every page under it, whole.

The rows stay where they were, marked with the time and account of the deletion (the same on
the page and on each page below it), so a restore brings back exactly the subtree deleted
together, under its old parent if that is still live, else at the top of its space. Purging
(an admin at once, or the loop in `trash_purges` once `[retention] trash_days` have passed)
erases the subtree deleted together, with every version and search term of its pages.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, delete, func, select, update

from tenantry.platform.data_keys import TenantKeys
from tenantry.platform.errors import ApiError
from tenantry.platform.sealing import open_text
from tenantry.platform.storage.tenant_session import TenantSession
from tenantry.services.pages.models import Page, PageTerm, PageVersion
from tenantry.services.pages.records import StoredPage
from tenantry.services.pages.store import version_conflict

_TRASH = (
    update(Page)
    .where(Page.id.in_(bindparam("ids", expanding=True)), Page.deleted_at.is_(None))
    .values(deleted_at=bindparam("now"), deleted_by=bindparam("by"))
)
_TRASH_ROOT = (
    update(Page)
    .where(
        Page.id == bindparam("page_id"),
        Page.version == bindparam("read_version"),
        Page.deleted_at.is_(None),
    )
    .values(deleted_at=bindparam("now"), deleted_by=bindparam("by"))
)


def trash_page(session: TenantSession, page: StoredPage, now: float, by: str) -> None:
    """Move `page` and every live page below it to the trash, as one deletion."""
    trashed = session.rows(
        _TRASH_ROOT, {"page_id": page.id, "read_version": page.version, "now": now, "by": by}
    )
    if trashed.rowcount != 1:
        raise version_conflict()
    below = _descendants(session, page.space_key, page.id, live=True)
    if below:
        session.rows(_TRASH, {"ids": below, "now": now, "by": by})


def list_trash(
    session: TenantSession, keys: TenantKeys, deleted_by: str | None
) -> list[dict[str, Any]]:
    """The deletions in the trash (each page deleted, not the pages that went with it),
    newest first; only `deleted_by`'s own unless None."""
    query = select(
        Page.id, Page.space_key, Page.parent_id, Page.title, Page.deleted_at, Page.deleted_by
    ).where(Page.deleted_at.is_not(None))
    if deleted_by is not None:
        query = query.where(Page.deleted_by == deleted_by)
    rows = list(session.rows(query))
    when = {row.id: row.deleted_at for row in session.rows(select(Page.id, Page.deleted_at))}
    roots = [
        row for row in rows if row.parent_id is None or when.get(row.parent_id) != row.deleted_at
    ]
    roots.sort(key=lambda row: (-row.deleted_at, row.id))
    return [
        {
            "page_id": row.id,
            "space": row.space_key,
            "title": open_text(keys, "pages", row.id, "title", row.title),
            "deleted_at": row.deleted_at,
            "deleted_by": row.deleted_by,
        }
        for row in roots
    ]


def restore_page(session: TenantSession, page_id: str, deleted_by: str | None) -> str:
    """Bring a trashed page back with the pages deleted with it; its space key.

    404 `trash_item_not_found` unless `page_id` is a deletion in the trash (and, when
    `deleted_by` is given, one of theirs).
    """
    row = session.rows(
        select(Page.space_key, Page.parent_id, Page.deleted_at, Page.deleted_by).where(
            Page.id == page_id, Page.deleted_at.is_not(None)
        )
    ).first()
    if row is None or (deleted_by is not None and row.deleted_by != deleted_by):
        raise ApiError(404, "trash_item_not_found", "the trash holds no such page")
    together = [
        pid
        for pid in _descendants(session, row.space_key, page_id, live=False)
        if _deleted_at(session, pid) == row.deleted_at
    ]
    parent = row.parent_id
    if parent is not None and _deleted_at(session, parent, missing=-1.0) is not None:
        parent = None  # the old parent is in the trash itself, or gone
    session.rows(
        update(Page)
        .where(Page.id == page_id)
        .values(deleted_at=None, deleted_by=None, parent_id=parent)
    )
    if together:
        session.rows(
            update(Page)
            .where(Page.id.in_(together), Page.deleted_at == row.deleted_at)
            .values(deleted_at=None, deleted_by=None)
        )
    return str(row.space_key)


def purge_page(session: TenantSession, page_id: str) -> int:
    """Erase a deletion in the trash for good: the page, the pages deleted with it, every
    version and search term of each; how many pages. 404 `trash_item_not_found` otherwise."""
    erased = erase_deletion(session, page_id)
    if erased is None:
        raise ApiError(404, "trash_item_not_found", "the trash holds no such page")
    return erased


def erase_deletion(session: TenantSession, page_id: str) -> int | None:
    """Erase the deletion of `page_id` (it and the pages deleted with it, their versions and
    search terms); how many pages, or None when the trash holds no such deletion.

    Pages deleted below it earlier, on their own, are deletions of their own: they stay in the
    trash until their own time comes, and a restore puts them at the top of their space.
    """
    row = session.rows(
        select(Page.space_key, Page.deleted_at).where(
            Page.id == page_id, Page.deleted_at.is_not(None)
        )
    ).first()
    if row is None:
        return None
    together = [
        pid
        for pid in _descendants(session, row.space_key, page_id, live=False)
        if _deleted_at(session, pid) == row.deleted_at
    ]
    doomed = [page_id, *together]
    session.rows(delete(PageTerm).where(PageTerm.page_id.in_(doomed)))
    session.rows(delete(PageVersion).where(PageVersion.page_id.in_(doomed)))
    session.rows(delete(Page).where(Page.id.in_(doomed)))
    return len(doomed)


def due(session: TenantSession, deleted_before: float, limit: int) -> list[str]:
    """The page ids of up to `limit` deletions made before `deleted_before`, oldest first:
    each page deleted, not the pages that went with it (they go when it does)."""
    rows = list(
        session.rows(
            select(Page.id, Page.parent_id, Page.deleted_at)
            .where(Page.deleted_at.is_not(None), Page.deleted_at <= deleted_before)
            .order_by(Page.deleted_at, Page.id)
        )
    )
    when = {row.id: row.deleted_at for row in rows}
    roots = [row.id for row in rows if when.get(row.parent_id) != row.deleted_at]
    return [str(page_id) for page_id in roots[:limit]]


def count(session: TenantSession) -> int:
    """How many pages the current tenant's trash holds."""
    query = select(func.count()).select_from(Page).where(Page.deleted_at.is_not(None))
    return int(session.rows(query).scalar_one())


def _deleted_at(session: TenantSession, page_id: str, missing: float | None = None) -> float | None:
    row = session.rows(select(Page.deleted_at).where(Page.id == page_id)).first()
    return missing if row is None else row.deleted_at


def _descendants(session: TenantSession, space: str, root: str, *, live: bool) -> list[str]:
    """Ids of every page below `root` in its space (live ones only, or trashed ones only)."""
    query = select(Page.id, Page.parent_id).where(Page.space_key == space)
    query = query.where(Page.deleted_at.is_(None) if live else Page.deleted_at.is_not(None))
    children: dict[str, list[str]] = {}
    for row in session.rows(query):
        if row.parent_id is not None:
            children.setdefault(row.parent_id, []).append(row.id)
    found: list[str] = []
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found
