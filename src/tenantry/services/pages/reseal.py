"""Re-encrypt a tenant's page titles and bodies under its current data key, a batch at a time.

After kms rotates a tenant's data key, the operator's `keys rotate-data-key` drives this as it
drives issues: each call reseals up to `limit` rows in one transaction and answers a cursor to go
on from (online, resumable, counted). Pages first (title and body), then every kept version.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select, update

from tenantry.platform.crypto import key_version
from tenantry.platform.data_keys import TenantKeys
from tenantry.platform.errors import ApiError
from tenantry.platform.reseal import ResealBatch
from tenantry.platform.sealing import reseal_texts
from tenantry.platform.storage.tenant_session import TenantSession
from tenantry.services.pages.models import Page, PageVersion

_PHASES = ("pages", "versions")
_RESEAL_PAGE = (
    update(Page)
    .where(Page.id == bindparam("page_id"))
    .values(title=bindparam("new_title"), body=bindparam("new_body"))
)
_RESEAL_VERSION = (
    update(PageVersion)
    .where(PageVersion.page_id == bindparam("of_page"), PageVersion.version == bindparam("number"))
    .values(title=bindparam("new_title"), body=bindparam("new_body"))
)


def reseal_batch(
    session: TenantSession, keys: TenantKeys, cursor: str | None, limit: int
) -> ResealBatch:
    """Reseal up to `limit` rows after `cursor` whose fields are not under the current key."""
    phase, after = _parse(cursor)
    if phase == "pages":
        pages = select(Page.id, Page.title, Page.body).order_by(Page.id)
        if after:
            pages = pages.where(Page.id > after)
        rows = list(session.rows(pages.limit(limit)))
        cells = [(row.id, row) for row in rows]
        table, statement = "pages", _RESEAL_PAGE
    else:
        versions = select(
            PageVersion.page_id, PageVersion.version, PageVersion.title, PageVersion.body
        ).order_by(PageVersion.page_id, PageVersion.version)
        if after:
            versions = versions.where(_after_version(*_version_key(after)))
        rows = list(session.rows(versions.limit(limit)))
        cells = [(f"{row.page_id}/{row.version}", row) for row in rows]
        table, statement = "page_versions", _RESEAL_VERSION
    oldest, stale = _stale(keys, cells)
    titles = reseal_texts(keys, table, "title", [(cell, row.title) for cell, row in stale])
    bodies = reseal_texts(keys, table, "body", [(cell, row.body) for cell, row in stale])
    for (_, row), title, body in zip(stale, titles, bodies, strict=True):
        values: dict[str, Any] = {"new_title": title, "new_body": body}
        if phase == "pages":
            session.rows(statement, {**values, "page_id": row.id})
        else:
            session.rows(statement, {**values, "of_page": row.page_id, "number": row.version})
    if len(rows) == limit:
        next_cursor: str | None = f"{phase}:{cells[-1][0]}"
    else:
        next_cursor = "versions:" if phase == "pages" else None
    return ResealBatch(len(rows), len(stale), _remaining(session, next_cursor), next_cursor, oldest)


def _stale(keys: TenantKeys, cells: list[tuple[str, Any]]) -> tuple[int | None, list[Any]]:
    """The oldest key version among `cells`, and those not wholly under the current key."""
    current = keys.current.version
    oldest: int | None = None
    stale = []
    for cell, row in cells:
        versions = {key_version(row.title), key_version(row.body)}
        oldest = min(versions) if oldest is None else min(oldest, *versions)
        if versions != {current}:
            stale.append((cell, row))
    return oldest, stale


def _after_version(page_id: str, number: int) -> Any:
    return or_(
        PageVersion.page_id > page_id,
        and_(PageVersion.page_id == page_id, PageVersion.version > number),
    )


def _remaining(session: TenantSession, cursor: str | None) -> int:
    """Rows after `cursor`, of this phase and the one after it."""
    if cursor is None:
        return 0
    phase, after = _parse(cursor)
    versions = select(func.count()).select_from(PageVersion)
    if phase == "versions":
        if after:
            versions = versions.where(_after_version(*_version_key(after)))
        return int(session.rows(versions).scalar_one())
    pages = select(func.count()).select_from(Page)
    if after:
        pages = pages.where(Page.id > after)
    return int(session.rows(pages).scalar_one()) + int(session.rows(versions).scalar_one())


def _parse(cursor: str | None) -> tuple[str, str]:
    if cursor is None:
        return "pages", ""
    phase, _, after = cursor.partition(":")
    if phase not in _PHASES or len(after) > 64:
        raise _bad_cursor()
    if phase == "versions" and after:
        _version_key(after)
    return phase, after


def _version_key(after: str) -> tuple[str, int]:
    page_id, _, number = after.partition("/")
    if not number.isdigit() or len(number) > 10:
        raise _bad_cursor()
    return page_id, int(number)


def _bad_cursor() -> ApiError:
    return ApiError(422, "invalid_cursor", "the cursor is not one this API handed out")
