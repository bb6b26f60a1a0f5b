"""Re-encrypt a tenant's sealed fields under its current data key, a batch at a time.

After kms rotates a tenant's data key, rows still sealed under older versions are resealed in
the background: each call handles up to `limit` rows in one transaction and answers a cursor to
go on from, so the work is online (requests keep being served between batches), resumable (a
stopped run starts again from its cursor, or from the start: resealing a current row is skipped),
and measurable (`remaining` counts the rows not yet looked at). Issues first, then comments,
then projects. Names and labels revision 0004 left marked (`sealed_fields`) are sealed here,
and a marked issue's label rows are indexed again by their blind index.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, delete, func, select, update

from tenantry.platform.crypto import key_version
from tenantry.platform.data_keys import TenantKeys
from tenantry.platform.errors import ApiError
from tenantry.platform.reseal import ResealBatch
from tenantry.platform.sealing import reseal_texts
from tenantry.platform.storage.tenant_session import TenantSession
from tenantry.services.issues.models import Comment, Issue, IssueLabel, Project
from tenantry.services.issues.sealed_fields import (
    is_unsealed,
    label_index,
    open_labels,
    open_name,
    seal_labels,
    seal_name,
    version_of,
)

_PHASES = ("issues", "comments", "projects")


def reseal_batch(
    session: TenantSession, keys: TenantKeys, cursor: str | None, limit: int
) -> ResealBatch:
    """Reseal up to `limit` rows after `cursor` whose fields are not under the current key."""
    phase, after = _parse(cursor)
    if phase == "issues":
        looked_at, resealed, oldest, last = _issues(session, keys, after, limit)
        next_cursor: str | None = f"issues:{last}" if looked_at == limit else "comments:"
    elif phase == "comments":
        looked_at, resealed, oldest, last = _comments(session, keys, after, limit)
        next_cursor = f"comments:{last}" if looked_at == limit else "projects:"
    else:
        looked_at, resealed, oldest, last = _projects(session, keys, after, limit)
        next_cursor = f"projects:{last}" if looked_at == limit else None
    remaining = _remaining(session, next_cursor)
    return ResealBatch(looked_at, resealed, remaining, next_cursor, oldest)


Done = tuple[int, int, int | None, str]
"""Rows looked at, rows resealed, the oldest key version met, the last row's key."""


def _oldest(versions: set[int], oldest: int | None) -> int:
    return min(versions | ({oldest} if oldest else set()))


def _projects(session: TenantSession, keys: TenantKeys, after: str, limit: int) -> Done:
    query = select(Project.key, Project.name).order_by(Project.key)
    if after:
        query = query.where(Project.key > after)
    rows = list(session.rows(query.limit(limit)))
    current = keys.current.version
    oldest: int | None = None
    resealed = 0
    for row in rows:
        version = version_of(row.name)
        oldest = _oldest({version}, oldest)
        if version != current:
            name = seal_name(keys, row.key, open_name(keys, row.key, row.name))
            session.rows(_RESEAL_PROJECT, {"project": row.key, "new_name": name})
            resealed += 1
    return len(rows), resealed, oldest, rows[-1].key if rows else ""


def _issues(session: TenantSession, keys: TenantKeys, after: str, limit: int) -> Done:
    query = select(Issue.id, Issue.summary, Issue.description, Issue.labels).order_by(Issue.id)
    if after:
        query = query.where(Issue.id > after)
    rows = list(session.rows(query.limit(limit)))
    current = keys.current.version
    oldest: int | None = None
    stale = []
    for row in rows:
        versions = {
            key_version(row.summary),
            key_version(row.description),
            version_of(row.labels),
        }
        oldest = _oldest(versions, oldest)
        if versions != {current}:
            stale.append(row)
    summaries = reseal_texts(keys, "issues", "summary", [(r.id, r.summary) for r in stale])
    descriptions = reseal_texts(
        keys, "issues", "description", [(r.id, r.description) for r in stale]
    )
    for row, summary, description in zip(stale, summaries, descriptions, strict=True):
        labels = open_labels(keys, row.id, row.labels)
        values: dict[str, Any] = {
            "issue_id": row.id,
            "new_summary": summary,
            "new_description": description,
            "new_labels": seal_labels(keys, row.id, labels),
        }
        if is_unsealed(row.labels):
            indexed = [{"issue_id": row.id, "label": label_index(keys, x)} for x in labels]
            session.rows(_DELETE_LABELS, {"issue_id": row.id})
            session.insert_rows(IssueLabel, indexed)
        session.rows(_RESEAL_ISSUE, values)
    return len(rows), len(stale), oldest, rows[-1].id if rows else ""


def _comments(session: TenantSession, keys: TenantKeys, after: str, limit: int) -> Done:
    query = select(Comment.id, Comment.body).order_by(Comment.id)
    if after:
        query = query.where(Comment.id > after)
    rows = list(session.rows(query.limit(limit)))
    current = keys.current.version
    oldest: int | None = None
    stale = []
    for row in rows:
        version = key_version(row.body)
        oldest = _oldest({version}, oldest)
        if version != current:
            stale.append(row)
    bodies = reseal_texts(keys, "comments", "body", [(r.id, r.body) for r in stale])
    for row, body in zip(stale, bodies, strict=True):
        session.rows(_RESEAL_COMMENT, {"comment_id": row.id, "new_body": body})
    return len(rows), len(stale), oldest, rows[-1].id if rows else ""


_RESEAL_PROJECT = (
    update(Project).where(Project.key == bindparam("project")).values(name=bindparam("new_name"))
)
_RESEAL_ISSUE = (
    update(Issue)
    .where(Issue.id == bindparam("issue_id"))
    .values(
        summary=bindparam("new_summary"),
        description=bindparam("new_description"),
        labels=bindparam("new_labels"),
    )
)
_RESEAL_COMMENT = (
    update(Comment).where(Comment.id == bindparam("comment_id")).values(body=bindparam("new_body"))
)
_DELETE_LABELS = delete(IssueLabel).where(IssueLabel.issue_id == bindparam("issue_id"))


def _count(session: TenantSession, model: Any, column: Any, after: str) -> int:
    query = select(func.count()).select_from(model)
    if after:
        query = query.where(column > after)
    return int(session.rows(query).scalar_one())


def _remaining(session: TenantSession, cursor: str | None) -> int:
    """Rows after `cursor`, of this phase and the ones after it."""
    if cursor is None:
        return 0
    phase, after = _parse(cursor)
    columns = ((Issue, Issue.id), (Comment, Comment.id), (Project, Project.key))
    start = _PHASES.index(phase)
    return sum(
        _count(session, model, column, after if number == start else "")
        for number, (model, column) in enumerate(columns)
        if number >= start
    )


def _parse(cursor: str | None) -> tuple[str, str]:
    if cursor is None:
        return "issues", ""
    phase, _, after = cursor.partition(":")
    if phase not in _PHASES or len(after) > 64:
        raise ApiError(422, "invalid_cursor", "the cursor is not one this API handed out")
    return phase, after
