"""The pages service's export and erase steps for one account (see
`platform.personal_data_steps`).

Export: every page the account created, last saved or deleted, every version it wrote, text
opened, and its views not yet delivered to analytics. Erase: wherever it is named it becomes
"former user" (its waiting views too); with `content: erase` every version it wrote is emptied,
and so is each page whose current version it saved (with that page's search terms).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter
from sqlalchemy import delete, or_, select, update

from tenantry.platform.data_keys import DataKeys, TenantKeys
from tenantry.platform.personal_data import FORMER_USER
from tenantry.platform.personal_data_steps import action, mapped_columns, stamp, tenant_store_steps
from tenantry.platform.sealing import open_text, seal_text
from tenantry.platform.storage.databases import Databases
from tenantry.platform.storage.tenant_session import TenantSession
from tenantry.services.pages.models import Page, PageTerm, PageVersion, ViewOutboxRow
from tenantry.services.pages.views import PageViews

SERVICE = "pages"
EMPTY_BODY = orjson.dumps({"type": "doc", "content": []}).decode()
"""What an emptied page or version holds."""


def build_privacy_router(databases: Databases, data_keys: DataKeys, views: PageViews) -> APIRouter:
    """The export and erase steps, bound to the pages database, the tenant's keys, and the
    views not yet written to the outbox."""

    def erase(
        session: TenantSession, keys: TenantKeys, account: str, content: bool
    ) -> list[dict[str, Any]]:
        buffered = views.forget_account(session.tenant_id, account)
        done = _erase(session, keys, account, content)
        for entry in done:
            if entry["table"] == "view_outbox":  # waiting views, written or still buffered
                entry["rows"] += buffered
        return done

    return tenant_store_steps(SERVICE, databases, data_keys, _records, erase)


def _cell(page_id: str, version: int) -> str:
    return f"{page_id}/{version}"


def _records(session: TenantSession, keys: TenantKeys, account: str) -> dict[str, Any]:
    named = or_(Page.created_by == account, Page.updated_by == account, Page.deleted_by == account)
    pages = session.rows(select(*mapped_columns(Page)).where(named))
    versions = session.rows(
        select(*mapped_columns(PageVersion)).where(PageVersion.author == account)
    )
    waiting = session.rows(
        select(ViewOutboxRow.page_id, ViewOutboxRow.viewed_at).where(
            ViewOutboxRow.cloud_id == session.tenant_id, ViewOutboxRow.account_id == account
        )
    )
    return {
        "view_outbox": [
            {"page_id": row.page_id, "viewed_at": stamp(datetime.fromtimestamp(row.viewed_at, UTC))}
            for row in waiting
        ],
        "pages": [
            {
                "id": row.id,
                "space": row.space_key,
                "title": open_text(keys, "pages", row.id, "title", row.title),
                "body": orjson.loads(open_text(keys, "pages", row.id, "body", row.body)),
                "version": row.version,
                "created_by": row.created_by,
                "updated_by": row.updated_by,
                "deleted_by": row.deleted_by,
                "created_at": stamp(row.created_at),
                "updated_at": stamp(row.updated_at),
            }
            for row in pages
        ],
        "page_versions": [
            {
                "page_id": row.page_id,
                "version": row.version,
                "title": open_text(
                    keys, "page_versions", _cell(row.page_id, row.version), "title", row.title
                ),
                "body": orjson.loads(
                    open_text(
                        keys, "page_versions", _cell(row.page_id, row.version), "body", row.body
                    )
                ),
                "author": row.author,
                "created_at": stamp(row.created_at),
            }
            for row in versions
        ],
    }


def _erase(
    session: TenantSession, keys: TenantKeys, account: str, content: bool
) -> list[dict[str, Any]]:
    done = []
    if content:
        written = [
            (str(row.page_id), int(row.version))
            for row in session.rows(
                select(PageVersion.page_id, PageVersion.version).where(
                    PageVersion.author == account
                )
            )
        ]
        for page_id, version in written:
            cell = _cell(page_id, version)
            session.rows(
                update(PageVersion)
                .where(PageVersion.page_id == page_id, PageVersion.version == version)
                .values(
                    title=seal_text(keys, "page_versions", cell, "title", ""),
                    body=seal_text(keys, "page_versions", cell, "body", EMPTY_BODY),
                )
            )
        done.append(action("page_versions", "emptied", len(written)))
        saved = [
            str(found.id)
            for found in session.rows(select(Page.id).where(Page.updated_by == account))
        ]
        for page_id in saved:
            session.rows(
                update(Page)
                .where(Page.id == page_id)
                .values(
                    title=seal_text(keys, "pages", page_id, "title", ""),
                    body=seal_text(keys, "pages", page_id, "body", EMPTY_BODY),
                )
            )
        if saved:
            session.rows(delete(PageTerm).where(PageTerm.page_id.in_(saved)))
        done.append(action("pages", "emptied", len(saved)))
    for column in ("created_by", "updated_by", "deleted_by"):
        named = session.rows(
            update(Page).where(getattr(Page, column) == account).values({column: FORMER_USER})
        )
        done.append(action("pages", f"{column}_former_user", named.rowcount))
    authored = session.rows(
        update(PageVersion).where(PageVersion.author == account).values(author=FORMER_USER)
    )
    done.append(action("page_versions", "former_user", authored.rowcount))
    viewed = session.rows(
        update(ViewOutboxRow)
        .where(ViewOutboxRow.cloud_id == session.tenant_id, ViewOutboxRow.account_id == account)
        .values(account_id=FORMER_USER)
    )
    done.append(action("view_outbox", "former_user", viewed.rowcount))
    return done
