"""Moving a page within its space's tree: under another parent (or to the top), at a position.

A move changes where the page is, not what it says, so it makes no new version. A page cannot
move under itself or under a page below it (the tree would become a loop).
"""

from __future__ import annotations

from sqlalchemy import bindparam, func, select, update

from tenantry.platform.data_keys import TenantKeys
from tenantry.platform.errors import ApiError
from tenantry.platform.storage.tenant_session import TenantSession
from tenantry.services.pages import store
from tenantry.services.pages.models import Page
from tenantry.services.pages.records import StoredPage

_SIBLINGS = (
    Page.space_key == bindparam("space"),
    Page.parent_id.is_not_distinct_from(bindparam("parent")),
)
_LAST_POSITION = select(func.max(Page.position)).where(*_SIBLINGS)
_MAKE_ROOM = (
    update(Page)
    .where(*_SIBLINGS, Page.position >= bindparam("at"), Page.id != bindparam("page_id"))
    .values(position=Page.position + 1)
)
_PLACE = (
    update(Page)
    .where(Page.id == bindparam("page_id"))
    .values(parent_id=bindparam("parent"), position=bindparam("position"))
)


def move_page(
    session: TenantSession,
    keys: TenantKeys,
    page: StoredPage,
    parent: str | None,
    position: int | None,
) -> StoredPage:
    """Put `page` under `parent` (None: the top of its space) at `position` (None: last)."""
    if parent is not None:
        if parent == page.id or parent in _below(session, page):
            raise ApiError(422, "move_into_own_subtree", "a page cannot move under itself")
        target = store.find_page(session, keys, parent, code="parent_not_found")
        if target.space_key != page.space_key:
            raise ApiError(422, "parent_in_other_space", "the parent page is in another space")
    where = {"space": page.space_key, "parent": parent}
    if position is None:
        last = session.rows(_LAST_POSITION, where).scalar()
        position = (last or 0) + 1
    else:
        session.rows(_MAKE_ROOM, {**where, "at": position, "page_id": page.id})
    session.rows(_PLACE, {"page_id": page.id, "parent": parent, "position": position})
    return store.find_page(session, keys, page.id)


def _below(session: TenantSession, page: StoredPage) -> set[str]:
    """The ids of every live page under `page`."""
    rows = session.rows(
        select(Page.id, Page.parent_id).where(
            Page.space_key == page.space_key, Page.deleted_at.is_(None)
        )
    )
    children: dict[str, list[str]] = {}
    for row in rows:
        if row.parent_id is not None:
            children.setdefault(row.parent_id, []).append(row.id)
    found: set[str] = set()
    stack = [page.id]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found
