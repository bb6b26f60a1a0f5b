"""Re-encrypt a tenant's sealed fields under its current data key, a batch at a time.

After kms rotates a tenant's data key, rows still sealed under older versions are resealed in
the background: each call handles up to `limit` rows in one transaction and answers a cursor to
go on from, so the work is online (requests keep being served between batches), resumable (a
stopped run starts again from its cursor, or from the start: resealing a current row is skipped),
and measurable (`remaining` counts the rows not yet looked at). Issues first, then comments.
"""

from __future__ import annotations

from sqlalchemy import bindparam, func, select, update

from tenantry.platform.crypto import key_version
from tenantry.platform.data_keys import TenantKeys
from tenantry.platform.errors import ApiError
from tenantry.platform.reseal import ResealBatch
from tenantry.platform.sealing import reseal_texts
from tenantry.platform.storage.tenant_session import TenantSession
from tenantry.services.issues.models import Comment, Issue

_PHASES = ("issues", "comments")


def reseal_batch(
    session: TenantSession, keys: TenantKeys, cursor: str | None, limit: int
) -> ResealBatch:
    """Reseal up to `limit` rows after `cursor` whose fields are not under the current key."""
    phase, after = _parse(cursor)
    current = keys.current.version
    looked_at = resealed = 0
    oldest: int | None = None
    if phase == "issues":
        issues = select(Issue.id, Issue.summary, Issue.description).order_by(Issue.id)
        if after:
            issues = issues.where(Issue.id > after)
        rows = list(session.rows(issues.limit(limit)))
        stale = []
        for row in rows:
            versions = {key_version(row.summary), key_version(row.description)}
            oldest = min(versions | ({oldest} if oldest else set()))
            if versions != {current}:
                stale.append(row)
        summaries = reseal_texts(keys, "issues", "summary", [(r.id, r.summary) for r in stale])
        descriptions = reseal_texts(
            keys, "issues", "description", [(r.id, r.description) for r in stale]
        )
        for row, summary, description in zip(stale, summaries, descriptions, strict=True):
            session.rows(
                _RESEAL_ISSUE,
                {"issue_id": row.id, "new_summary": summary, "new_description": description},
            )
        resealed = len(stale)
        looked_at = len(rows)
        next_cursor: str | None = f"issues:{rows[-1].id}" if len(rows) == limit else "comments:"
    else:
        comments = select(Comment.id, Comment.body).order_by(Comment.id)
        if after:
            comments = comments.where(Comment.id > after)
        rows = list(session.rows(comments.limit(limit)))
        stale = []
        for row in rows:
            version = key_version(row.body)
            oldest = min({version} | ({oldest} if oldest else set()))
            if version != current:
                stale.append(row)
        bodies = reseal_texts(keys, "comments", "body", [(r.id, r.body) for r in stale])
        for row, body in zip(stale, bodies, strict=True):
            session.rows(_RESEAL_COMMENT, {"comment_id": row.id, "new_body": body})
        resealed = len(stale)
        looked_at = len(rows)
        next_cursor = f"comments:{rows[-1].id}" if len(rows) == limit else None
    remaining = _remaining(session, next_cursor)
    return ResealBatch(looked_at, resealed, remaining, next_cursor, oldest)


_RESEAL_ISSUE = (
    update(Issue)
    .where(Issue.id == bindparam("issue_id"))
    .values(summary=bindparam("new_summary"), description=bindparam("new_description"))
)
_RESEAL_COMMENT = (
    update(Comment).where(Comment.id == bindparam("comment_id")).values(body=bindparam("new_body"))
)


def _remaining(session: TenantSession, cursor: str | None) -> int:
    """Rows after `cursor`, of this phase and the ones after it."""
    if cursor is None:
        return 0
    phase, after = _parse(cursor)
    comments = select(func.count()).select_from(Comment)
    if phase == "comments":
        if after:
            comments = comments.where(Comment.id > after)
        return int(session.rows(comments).scalar_one())
    issues = select(func.count()).select_from(Issue)
    if after:
        issues = issues.where(Issue.id > after)
    return int(session.rows(issues).scalar_one()) + int(session.rows(comments).scalar_one())


def _parse(cursor: str | None) -> tuple[str, str]:
    if cursor is None:
        return "issues", ""
    phase, _, after = cursor.partition(":")
    if phase not in _PHASES or len(after) > 64:
        raise ApiError(422, "invalid_cursor", "the cursor is not one this API handed out")
    return phase, after
