"""The issues service's export and erase steps for one account (see
`platform.personal_data_steps`).

Export: every issue the account reported or is assigned, every comment it wrote, every item
it put in the trash, text opened. Erase: where it was named as reporter, author or deleter it
becomes "former user" (no id, no link back); it is unassigned; with `content: erase` its
comments go, and the summaries and descriptions of the issues it reported are emptied.
Attachments are media's (its own step finds them by uploader).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import delete, or_, select, update

from tenantry.platform.data_keys import DataKeys, TenantKeys
from tenantry.platform.personal_data import FORMER_USER
from tenantry.platform.personal_data_steps import action, mapped_columns, stamp, tenant_store_steps
from tenantry.platform.sealing import open_text, seal_text
from tenantry.platform.storage.databases import Databases
from tenantry.platform.storage.tenant_session import TenantSession
from tenantry.services.issues.models import Comment, Issue, TrashItem
from tenantry.services.issues.trash import COMMENT

SERVICE = "issues"
ERASED_TEXT = ""
"""What an emptied summary or description holds."""


def build_privacy_router(databases: Databases, data_keys: DataKeys) -> APIRouter:
    """The export and erase steps, bound to the issues database and the tenant's keys."""
    return tenant_store_steps(SERVICE, databases, data_keys, _records, _erase)


def _records(session: TenantSession, keys: TenantKeys, account: str) -> dict[str, Any]:
    issues = session.rows(
        select(*mapped_columns(Issue)).where(
            or_(Issue.reporter == account, Issue.assignee == account)
        )
    )
    comments = session.rows(select(*mapped_columns(Comment)).where(Comment.author == account))
    trashed = session.rows(
        select(*mapped_columns(TrashItem)).where(TrashItem.deleted_by == account)
    )
    return {
        "issues": [
            {
                "key": f"{row.project_key}-{row.number}",
                "summary": open_text(keys, "issues", row.id, "summary", row.summary),
                "description": open_text(keys, "issues", row.id, "description", row.description),
                "status": row.status,
                "reporter": row.reporter,
                "assignee": row.assignee,
                "labels": list(row.labels),
                "created_at": stamp(row.created_at),
                "updated_at": stamp(row.updated_at),
                "deleted": row.deleted_at is not None,
            }
            for row in issues
        ],
        "comments": [
            {
                "id": row.id,
                "issue_id": row.issue_id,
                "body": open_text(keys, "comments", row.id, "body", row.body),
                "author": row.author,
                "created_at": stamp(row.created_at),
                "deleted": row.deleted_at is not None,
            }
            for row in comments
        ],
        "trash_items": [
            {
                "id": row.id,
                "kind": row.kind,
                "issue": row.issue_key,
                "title": open_text(keys, "trash_items", row.id, "title", row.title),
                "deleted_by": row.deleted_by,
            }
            for row in trashed
        ],
    }


def _erase(
    session: TenantSession, keys: TenantKeys, account: str, content: bool
) -> list[dict[str, Any]]:
    done = []
    if content:
        written = select(Comment.id).where(Comment.author == account)
        ids = [str(found.id) for found in session.rows(written)]
        if ids:
            session.rows(
                delete(TrashItem).where(TrashItem.kind == COMMENT, TrashItem.item_id.in_(ids))
            )
            session.rows(delete(Comment).where(Comment.id.in_(ids)))
        done.append(action("comments", "deleted", len(ids)))
        reported = [
            str(found.id)
            for found in session.rows(select(Issue.id).where(Issue.reporter == account))
        ]
        for issue_id in reported:
            session.rows(
                update(Issue)
                .where(Issue.id == issue_id)
                .values(
                    summary=seal_text(keys, "issues", issue_id, "summary", ERASED_TEXT),
                    description=seal_text(keys, "issues", issue_id, "description", ERASED_TEXT),
                    version=Issue.version + 1,
                )
            )
        done.append(action("issues", "emptied", len(reported)))
    else:
        authored = session.rows(
            update(Comment).where(Comment.author == account).values(author=FORMER_USER)
        )
        done.append(action("comments", "former_user", authored.rowcount))
    reporter = session.rows(
        update(Issue)
        .where(Issue.reporter == account)
        .values(reporter=FORMER_USER, version=Issue.version + 1)
    )
    done.append(action("issues", "former_user", reporter.rowcount))
    assignee = session.rows(
        update(Issue)
        .where(Issue.assignee == account)
        .values(assignee=None, version=Issue.version + 1)
    )
    done.append(action("issues", "unassigned", assignee.rowcount))
    trash = session.rows(
        update(TrashItem).where(TrashItem.deleted_by == account).values(deleted_by=FORMER_USER)
    )
    done.append(action("trash_items", "former_user", trash.rowcount))
    return done
