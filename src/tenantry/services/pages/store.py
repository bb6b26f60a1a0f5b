"""The pages service's reads and writes, on a tenant session, with the API's error answers.

Each function takes the tenant session it runs in, so everything here is confined to the
current tenant by construction (the session adds the tenant to every statement). Pages in the
site's trash (`deleted_at` set) are left out of every read but the trash's own. Titles and
bodies are sealed as they are written and opened as they are read, each bound to its row and
column. A save names the version it read, so of two concurrent saves of one version, one wins
and the other answers 409 `version_conflict`.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import orjson
from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from tenantry.platform.data_keys import TenantKeys
from tenantry.platform.errors import ApiError
from tenantry.platform.sealing import open_text, seal_text
from tenantry.platform.storage.model import utc_now
from tenantry.platform.storage.tenant_session import TenantSession
from tenantry.services.pages.models import Page, PageTerm, PageVersion, Space
from tenantry.services.pages.records import StoredPage, StoredSpace, StoredVersion, TreeEntry
from tenantry.services.pages.render import to_text
from tenantry.services.pages.search_terms import terms

SEARCH_LIMIT = 50

_PAGE_COLUMNS = (
    Page.id,
    Page.space_key,
    Page.parent_id,
    Page.position,
    Page.title,
    Page.body,
    Page.version,
    Page.created_by,
    Page.updated_by,
    Page.created_at,
    Page.updated_at,
)
_VERSION_COLUMNS = (
    PageVersion.page_id,
    PageVersion.version,
    PageVersion.title,
    PageVersion.body,
    PageVersion.author,
    PageVersion.created_at,
)
_LIVE = Page.deleted_at.is_(None)
_SPACE_BY_KEY = select(Space.key, Space.name).where(Space.key == bindparam("space"))
_ALL_SPACES = select(Space.key, Space.name).order_by(Space.key)
_PAGE_BY_ID = select(*_PAGE_COLUMNS).where(Page.id == bindparam("page_id"), _LIVE)
_LAST_POSITION = select(func.max(Page.position)).where(
    Page.space_key == bindparam("space"), Page.parent_id.is_not_distinct_from(bindparam("parent"))
)
_SAVE_PAGE = (
    update(Page)
    .where(Page.id == bindparam("page_id"), Page.version == bindparam("read_version"), _LIVE)
    .values(
        title=bindparam("new_title"),
        body=bindparam("new_body"),
        version=bindparam("new_version"),
        updated_by=bindparam("author"),
        updated_at=bindparam("now"),
    )
)
_DELETE_TERMS = delete(PageTerm).where(PageTerm.page_id == bindparam("page_id"))
_VERSIONS_OF = (
    select(PageVersion.version, PageVersion.title, PageVersion.author, PageVersion.created_at)
    .where(PageVersion.page_id == bindparam("page_id"))
    .order_by(PageVersion.version.desc())
)
_VERSION = select(*_VERSION_COLUMNS).where(
    PageVersion.page_id == bindparam("page_id"), PageVersion.version == bindparam("version")
)


def create_space(session: TenantSession, key: str, name: str) -> StoredSpace:
    """Create a space, or answer 409 `space_exists` if this tenant already has the key."""
    try:
        session.insert_rows(Space, [{"key": key, "name": name, "created_at": utc_now()}])
    except IntegrityError:
        raise ApiError(409, "space_exists", f"space {key} already exists") from None
    return StoredSpace(key=key, name=name)


def get_space(session: TenantSession, key: str) -> StoredSpace:
    """One space, or 404 `space_not_found`."""
    row = session.rows(_SPACE_BY_KEY, {"space": key}).first()
    if row is None:
        raise ApiError(404, "space_not_found", f"space {key} was not found")
    return StoredSpace(row.key, row.name)


def list_spaces(session: TenantSession) -> list[StoredSpace]:
    """All of this tenant's spaces, by key."""
    return [StoredSpace(row.key, row.name) for row in session.rows(_ALL_SPACES)]


def create_page(
    session: TenantSession,
    keys: TenantKeys,
    space: str,
    parent: str | None,
    content: tuple[str, dict[str, Any]],
    author: str,
) -> StoredPage:
    """A new page (version 1) last among its siblings; `content` is its title and body."""
    get_space(session, space)
    if parent is not None:
        parent_page = find_page(session, keys, parent, code="parent_not_found")
        if parent_page.space_key != space:
            raise ApiError(422, "parent_in_other_space", "the parent page is in another space")
    last = session.rows(_LAST_POSITION, {"space": space, "parent": parent}).scalar()
    title, body = content
    now = utc_now()
    page = StoredPage(
        id=uuid.uuid4().hex,
        space_key=space,
        parent_id=parent,
        position=(last or 0) + 1,
        title=title,
        body=body,
        version=1,
        created_by=author,
        updated_by=author,
        created_at=now,
        updated_at=now,
    )
    session.insert_rows(
        Page,
        [
            {
                "id": page.id,
                "space_key": space,
                "parent_id": parent,
                "position": page.position,
                "title": seal_text(keys, "pages", page.id, "title", title),
                "body": seal_text(keys, "pages", page.id, "body", _json(body)),
                "version": 1,
                "created_by": author,
                "updated_by": author,
                "created_at": now,
                "updated_at": now,
            }
        ],
    )
    _add_version(session, keys, page)
    _index(session, keys, page)
    return page


def find_page(
    session: TenantSession, keys: TenantKeys, page_id: str, code: str = "page_not_found"
) -> StoredPage:
    """The live page `page_id`, or 404 (also for another tenant's page, or one in the trash)."""
    row = session.rows(_PAGE_BY_ID, {"page_id": page_id}).first()
    if row is None:
        raise ApiError(404, code, "no such page")
    return _page(row, keys)


def save_page(
    session: TenantSession,
    keys: TenantKeys,
    page: StoredPage,
    content: tuple[str, dict[str, Any]],
    author: str,
) -> StoredPage:
    """Save `content` (title, body) over `page` as its next version; 409 if it moved on."""
    title, body = content
    saved = dataclasses.replace(
        page,
        title=title,
        body=body,
        version=page.version + 1,
        updated_by=author,
        updated_at=utc_now(),
    )
    updated = session.rows(
        _SAVE_PAGE,
        {
            "page_id": page.id,
            "read_version": page.version,
            "new_title": seal_text(keys, "pages", page.id, "title", title),
            "new_body": seal_text(keys, "pages", page.id, "body", _json(body)),
            "new_version": saved.version,
            "author": author,
            "now": saved.updated_at,
        },
    )
    if updated.rowcount != 1:
        raise version_conflict()
    try:
        _add_version(session, keys, saved)
    except IntegrityError:
        raise version_conflict() from None
    session.rows(_DELETE_TERMS, {"page_id": page.id})
    _index(session, keys, saved)
    return saved


def list_versions(
    session: TenantSession, keys: TenantKeys, page: StoredPage
) -> list[dict[str, Any]]:
    """The page's versions, newest first: number, title, author and time of each."""
    return [
        {
            "version": row.version,
            "title": open_text(
                keys, "page_versions", _version_row(page.id, row.version), "title", row.title
            ),
            "author": row.author,
            "created_at": row.created_at,
        }
        for row in session.rows(_VERSIONS_OF, {"page_id": page.id})
    ]


def get_version(
    session: TenantSession, keys: TenantKeys, page: StoredPage, version: int
) -> StoredVersion:
    """One version of the page, or 404 `version_not_found`."""
    row = session.rows(_VERSION, {"page_id": page.id, "version": version}).first()
    if row is None:
        raise version_not_found(version)
    cell = _version_row(page.id, version)
    return StoredVersion(
        page_id=page.id,
        version=version,
        title=open_text(keys, "page_versions", cell, "title", row.title),
        body=orjson.loads(open_text(keys, "page_versions", cell, "body", row.body)),
        author=row.author,
        created_at=row.created_at,
    )


def tree(session: TenantSession, keys: TenantKeys, space: str) -> list[TreeEntry]:
    """Every live page of the space with its parent and position (the caller nests them)."""
    get_space(session, space)
    query = (
        select(Page.id, Page.parent_id, Page.position, Page.title)
        .where(Page.space_key == space, _LIVE)
        .order_by(Page.position, Page.id)
    )
    return [
        TreeEntry(
            row.id,
            row.parent_id,
            row.position,
            open_text(keys, "pages", row.id, "title", row.title),
        )
        for row in session.rows(query)
    ]


def search(
    session: TenantSession, keys: TenantKeys, words: list[str], space: str | None
) -> list[StoredPage]:
    """Live pages holding every one of `words` in their title or text, most recent first."""
    wanted = sorted(set(terms(keys, " ".join(words))))
    if not wanted:
        return []
    matching = (
        select(PageTerm.page_id)
        .where(PageTerm.term.in_(wanted))
        .group_by(PageTerm.page_id)
        .having(func.count(PageTerm.term) == len(wanted))
    )
    query = select(*_PAGE_COLUMNS).where(Page.id.in_(matching), _LIVE)
    if space is not None:
        query = query.where(Page.space_key == space)
    query = query.order_by(Page.updated_at.desc(), Page.id).limit(SEARCH_LIMIT)
    return [_page(row, keys) for row in session.rows(query)]


def version_conflict() -> ApiError:
    """The answer to a save or delete of a version that is no longer the current one."""
    return ApiError(409, "version_conflict", "the page changed meanwhile; read it and retry")


def version_not_found(version: int) -> ApiError:
    """The answer for a version number the page never had."""
    return ApiError(404, "version_not_found", f"the page has no version {version}")


def _add_version(session: TenantSession, keys: TenantKeys, page: StoredPage) -> None:
    cell = _version_row(page.id, page.version)
    session.insert_rows(
        PageVersion,
        [
            {
                "page_id": page.id,
                "version": page.version,
                "title": seal_text(keys, "page_versions", cell, "title", page.title),
                "body": seal_text(keys, "page_versions", cell, "body", _json(page.body)),
                "author": page.updated_by,
                "created_at": page.updated_at,
            }
        ],
    )


def _index(session: TenantSession, keys: TenantKeys, page: StoredPage) -> None:
    found = terms(keys, f"{page.title}\n{to_text(page.body)}")
    session.insert_rows(PageTerm, [{"page_id": page.id, "term": term} for term in found])


def _page(row: Any, keys: TenantKeys) -> StoredPage:
    return StoredPage(
        id=row.id,
        space_key=row.space_key,
        parent_id=row.parent_id,
        position=row.position,
        title=open_text(keys, "pages", row.id, "title", row.title),
        body=orjson.loads(open_text(keys, "pages", row.id, "body", row.body)),
        version=row.version,
        created_by=row.created_by,
        updated_by=row.updated_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _version_row(page_id: str, version: int) -> str:
    """The row a version's sealed cells are bound to (a version copied to another fails)."""
    return f"{page_id}/{version}"


def _json(body: dict[str, Any]) -> str:
    return orjson.dumps(body).decode()
