"""The issues service's reads and writes, on a tenant session, with the API's error answers.

Route handlers do HTTP; these functions do storage. Each takes the tenant session it runs in,
so everything here is confined to the current tenant by construction: statements name mapped
classes only, and the session adds the tenant to each of them (no tenant filter is written here).
Issues and comments in the site's trash (`deleted_at` set) are left out of every read here;
`trash` owns what is done with them. Project names, summaries, descriptions, labels and comment
bodies are sealed with the tenant's data key (`keys`) as they are written and opened as they are
read; each is bound to its row and column. Labels are filtered by their blind index.

The hot statements are built once, with bound parameters, and run through the session's row
door (`TenantSession.rows()` / `insert_rows()`): no ORM objects are built, and SQLAlchemy's
statement cache serves every call after the first. Changes and deletes name the version read,
so two concurrent edits cannot both win.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, bindparam, delete, or_, select, update
from sqlalchemy.exc import IntegrityError

from tenantry.platform.cursors import ListCursors, Listing, bad_cursor
from tenantry.platform.data_keys import TenantKeys
from tenantry.platform.errors import ApiError
from tenantry.platform.sealing import open_text, seal_text
from tenantry.platform.storage.model import utc_now
from tenantry.platform.storage.tenant_session import TenantSession
from tenantry.services.issues.identifiers import IssueRef
from tenantry.services.issues.models import Comment, Issue, IssueLabel, Project
from tenantry.services.issues.records import StoredComment, StoredIssue, StoredProject
from tenantry.services.issues.sealed_fields import (
    label_index,
    open_labels,
    open_name,
    seal_labels,
    seal_name,
)
from tenantry.services.issues.workflow import INITIAL_STATUS, check_transition


@dataclass(frozen=True, slots=True)
class IssueFilter:
    """Which issues a listing shows; None means any."""

    project: str | None = None
    status: str | None = None
    assignee: str | None = None
    label: str | None = None


@dataclass(frozen=True, slots=True)
class IssueChanges:
    """The fields a PATCH sets; `fields` says which were given (so `assignee=None` unassigns)."""

    fields: frozenset[str]
    status: str | None = None
    assignee: str | None = None
    summary: str | None = None
    description: str | None = None
    labels: list[str] | None = None


# Column tuples in the field order of the records, so a row unpacks into one.
_PROJECT_COLUMNS = (Project.key, Project.name)
_ISSUE_COLUMNS = (
    Issue.id,
    Issue.project_key,
    Issue.number,
    Issue.summary,
    Issue.description,
    Issue.status,
    Issue.assignee,
    Issue.reporter,
    Issue.labels,
    Issue.created_at,
    Issue.updated_at,
    Issue.version,
)
_COMMENT_COLUMNS = (Comment.id, Comment.issue_id, Comment.body, Comment.author, Comment.created_at)

_PROJECT_BY_KEY = select(*_PROJECT_COLUMNS).where(Project.key == bindparam("project"))
_ALL_PROJECTS = select(*_PROJECT_COLUMNS).order_by(Project.key)
# One UPDATE both takes the next number and write-locks the counter until commit, so two
# concurrent creates can never get the same number.
_NEXT_NUMBER = (
    update(Project)
    .where(Project.key == bindparam("project"))
    .values(last_number=Project.last_number + 1)
    .returning(Project.last_number)
)
_LIVE_ISSUE = Issue.deleted_at.is_(None)
_LIVE_COMMENT = Comment.deleted_at.is_(None)
_ISSUE_BY_ID = select(*_ISSUE_COLUMNS).where(Issue.id == bindparam("issue_id"), _LIVE_ISSUE)
_ISSUE_BY_KEY = select(*_ISSUE_COLUMNS).where(
    Issue.project_key == bindparam("project"), Issue.number == bindparam("number"), _LIVE_ISSUE
)
_SAME_VERSION = and_(Issue.id == bindparam("issue_id"), Issue.version == bindparam("read_version"))
_CHANGE_ISSUE = (
    update(Issue)
    .where(_SAME_VERSION)
    .values(
        status=bindparam("new_status"),
        assignee=bindparam("new_assignee"),
        summary=bindparam("new_summary"),
        description=bindparam("new_description"),
        labels=bindparam("new_labels"),
        updated_at=bindparam("new_updated_at"),
        version=bindparam("new_version"),
    )
)
_TRASH_ISSUE = (
    update(Issue)
    .where(_SAME_VERSION, _LIVE_ISSUE)
    .values(deleted_at=bindparam("deleted"), version=bindparam("new_version"))
)
_COMMENT_OF_ISSUE = select(*_COMMENT_COLUMNS).where(
    Comment.id == bindparam("comment_id"), Comment.issue_id == bindparam("issue_id"), _LIVE_COMMENT
)
_TRASH_COMMENT = (
    update(Comment)
    .where(Comment.id == bindparam("comment_id"), _LIVE_COMMENT)
    .values(deleted_at=bindparam("deleted"))
)
_ANY_ISSUE_OF_PROJECT = select(Issue.id).where(Issue.project_key == bindparam("project")).limit(1)
_DELETE_PROJECT = delete(Project).where(Project.key == bindparam("project"))
_DELETE_LABELS = delete(IssueLabel).where(IssueLabel.issue_id == bindparam("issue_id"))


def create_project(session: TenantSession, keys: TenantKeys, key: str, name: str) -> StoredProject:
    """Create a project, or answer 409 `project_exists` if this tenant already has the key."""
    sealed = seal_name(keys, key, name)
    try:
        session.insert_rows(
            Project, [{"key": key, "name": sealed, "last_number": 0, "created_at": utc_now()}]
        )
    except IntegrityError:
        raise _project_exists(key) from None
    return StoredProject(key=key, name=name)


def delete_project(session: TenantSession, key: str) -> None:
    """Delete an empty project; 404 `project_not_found`, or 409 `project_not_empty` while it
    has issues (deleting a project never deletes issues: each is deleted on its own)."""
    if session.rows(_PROJECT_BY_KEY, {"project": key}).first() is None:
        raise _project_not_found(key)
    if session.rows(_ANY_ISSUE_OF_PROJECT, {"project": key}).first() is not None:
        raise _project_not_empty(key)
    try:
        session.rows(_DELETE_PROJECT, {"project": key})
    except IntegrityError:  # an issue was created meanwhile
        raise _project_not_empty(key) from None


def list_projects(session: TenantSession, keys: TenantKeys) -> list[StoredProject]:
    """All of this tenant's projects, by key."""
    return [_project(row, keys) for row in session.rows(_ALL_PROJECTS)]


def get_project(session: TenantSession, keys: TenantKeys, key: str) -> StoredProject:
    """One project, or 404 `project_not_found`."""
    row = session.rows(_PROJECT_BY_KEY, {"project": key}).first()
    if row is None:
        raise _project_not_found(key)
    return _project(row, keys)


def create_issue(
    session: TenantSession,
    keys: TenantKeys,
    *,
    project: str,
    summary: str,
    description: str,
    reporter: str,
    assignee: str | None = None,
    labels: list[str] | None = None,
) -> StoredIssue:
    """Create an issue with the project's next number (safe under concurrent creates)."""
    number = session.rows(_NEXT_NUMBER, {"project": project}).scalar_one_or_none()
    if number is None:
        raise _project_not_found(project)
    now = utc_now()
    issue = StoredIssue(
        id=uuid.uuid4().hex,
        project_key=project,
        number=number,
        summary=summary,
        description=description,
        status=INITIAL_STATUS,
        assignee=assignee,
        reporter=reporter,
        labels=list(labels or []),
        created_at=now,
        updated_at=now,
        version=1,
    )
    session.insert_rows(Issue, [_issue_values(issue, keys)])
    _insert_labels(session, keys, issue)
    return issue


def find_issue(session: TenantSession, keys: TenantKeys, ref: IssueRef) -> StoredIssue:
    """The issue a key or id names, or 404 `issue_not_found` (also for other tenants' issues)."""
    if ref.id is not None:
        result = session.rows(_ISSUE_BY_ID, {"issue_id": ref.id})
    else:
        result = session.rows(_ISSUE_BY_KEY, {"project": ref.project, "number": ref.number})
    row = result.first()
    if row is None:
        raise ApiError(404, "issue_not_found", "no such issue")
    return _issue(row, keys)


def change_issue(
    session: TenantSession, keys: TenantKeys, issue: StoredIssue, changes: IssueChanges
) -> StoredIssue:
    """Apply a PATCH: the workflow decides status changes; a concurrent edit answers 409."""
    fields = changes.fields
    status = issue.status
    if "status" in fields and changes.status is not None:
        check_transition(issue.status, changes.status)
        status = changes.status
    labels_changed = "labels" in fields and changes.labels is not None
    changed = dataclasses.replace(
        issue,
        status=status,
        assignee=changes.assignee if "assignee" in fields else issue.assignee,
        summary=_given(fields, "summary", changes.summary, issue.summary),
        description=_given(fields, "description", changes.description, issue.description),
        labels=list(changes.labels or ()) if labels_changed else issue.labels,
        updated_at=utc_now(),
        version=issue.version + 1,
    )
    updated = session.rows(
        _CHANGE_ISSUE,
        {
            "issue_id": issue.id,
            "read_version": issue.version,
            "new_status": changed.status,
            "new_assignee": changed.assignee,
            "new_summary": seal_text(keys, "issues", issue.id, "summary", changed.summary),
            "new_description": seal_text(
                keys, "issues", issue.id, "description", changed.description
            ),
            "new_labels": seal_labels(keys, issue.id, changed.labels),
            "new_updated_at": changed.updated_at,
            "new_version": changed.version,
        },
    )
    if updated.rowcount != 1:
        raise _edit_conflict()
    if labels_changed:
        session.rows(_DELETE_LABELS, {"issue_id": issue.id})
        _insert_labels(session, keys, changed)
    return changed


def trash_issue(session: TenantSession, issue: StoredIssue, now: float) -> None:
    """Mark an issue deleted (in the trash): no read finds it, its comments with it."""
    trashed = session.rows(
        _TRASH_ISSUE,
        {
            "issue_id": issue.id,
            "read_version": issue.version,
            "deleted": now,
            "new_version": issue.version + 1,
        },
    )
    if trashed.rowcount != 1:
        raise _edit_conflict()


def find_comment(
    session: TenantSession, keys: TenantKeys, issue: StoredIssue, comment_id: str
) -> StoredComment:
    """A comment of `issue` (not in the trash), or 404 `comment_not_found`."""
    row = session.rows(_COMMENT_OF_ISSUE, {"comment_id": comment_id, "issue_id": issue.id}).first()
    if row is None:
        raise ApiError(404, "comment_not_found", "this issue has no such comment")
    return _comment(row, keys)


def trash_comment(session: TenantSession, comment: StoredComment, now: float) -> None:
    """Mark a comment deleted (in the trash): its issue's listing no longer shows it."""
    if session.rows(_TRASH_COMMENT, {"comment_id": comment.id, "deleted": now}).rowcount != 1:
        raise ApiError(404, "comment_not_found", "this issue has no such comment")


def list_issues(
    session: TenantSession,
    keys: TenantKeys,
    where: IssueFilter,
    page_of: tuple[ListCursors, int, str | None],
) -> tuple[list[StoredIssue], str | None]:
    """One page of issues in key order, and the cursor of the next page (None on the last).

    `page_of` is the cursors of this service, the page size and the cursor given (if any); a
    cursor is good only for the same filters it was handed out with.
    """
    cursors, limit, cursor = page_of
    listing = Listing.of_tenant("issues", dataclasses.asdict(where))
    query = select(*_ISSUE_COLUMNS).where(_LIVE_ISSUE)
    if where.project is not None:
        query = query.where(Issue.project_key == where.project)
    if where.status is not None:
        query = query.where(Issue.status == where.status)
    if where.assignee is not None:
        query = query.where(Issue.assignee == where.assignee)
    if where.label is not None:
        # The session scopes both sides of the join to the tenant.
        # A label's own text matches rows revision 0004 left until their reseal; an index
        # (64 hex digits) is longer than any label, so the two never meet.
        found_by = IssueLabel.label.in_([label_index(keys, where.label), where.label])
        query = query.join(IssueLabel, and_(IssueLabel.issue_id == Issue.id, found_by))
    after = cursors.open(cursor, listing, (str, int)) if cursor is not None else None
    rows = _keyset_page(session, query, (Issue.project_key, Issue.number), after, limit)
    page = [_issue(row, keys) for row in rows[:limit]]
    if len(rows) <= limit:
        return page, None
    return page, cursors.seal(listing, page[-1].project_key, page[-1].number)


def add_comment(
    session: TenantSession, keys: TenantKeys, issue: StoredIssue, body: str, author: str
) -> StoredComment:
    """Add a comment to an issue."""
    comment = StoredComment(
        id=uuid.uuid4().hex, issue_id=issue.id, body=body, author=author, created_at=utc_now()
    )
    sealed = seal_text(keys, "comments", comment.id, "body", body)
    session.insert_rows(Comment, [{**dataclasses.asdict(comment), "body": sealed}])
    return comment


def list_comments(
    session: TenantSession,
    keys: TenantKeys,
    issue: StoredIssue,
    page_of: tuple[ListCursors, int, str | None],
) -> tuple[list[StoredComment], str | None]:
    """One page of an issue's comments, oldest first, and the cursor of the next page (good
    for this issue's comments only)."""
    cursors, limit, cursor = page_of
    listing = Listing.of_tenant(f"comments:{issue.id}")
    query = select(*_COMMENT_COLUMNS).where(Comment.issue_id == issue.id, _LIVE_COMMENT)
    after = None
    if cursor is not None:
        after_time, after_id = cursors.open(cursor, listing, (str, str))
        after = (_cursor_time(after_time), after_id)
    rows = _keyset_page(session, query, (Comment.created_at, Comment.id), after, limit)
    page = [_comment(row, keys) for row in rows[:limit]]
    if len(rows) <= limit:
        return page, None
    return page, cursors.seal(listing, page[-1].created_at.isoformat(), page[-1].id)


def _keyset_page(
    session: TenantSession,
    query: Select[*tuple[Any, ...]],
    order: tuple[Any, Any],
    after: tuple[Any, Any] | None,
    limit: int,
) -> list[Any]:
    """Up to `limit + 1` rows ordered by the two `order` columns, after the `after` key.

    The extra row tells the caller whether another page follows.
    """
    first, second = order
    if after is not None:
        query = query.where(or_(first > after[0], and_(first == after[0], second > after[1])))
    return list(session.rows(query.order_by(first, second).limit(limit + 1)))


def _project(row: Any, keys: TenantKeys) -> StoredProject:
    """A row of `_PROJECT_COLUMNS` as a record, its name opened."""
    return StoredProject(key=row.key, name=open_name(keys, row.key, row.name))


def _issue(row: Any, keys: TenantKeys) -> StoredIssue:
    """A row of `_ISSUE_COLUMNS` as a record, its sealed fields opened."""
    issue = StoredIssue(*row)
    return dataclasses.replace(
        issue,
        summary=open_text(keys, "issues", issue.id, "summary", row.summary),
        description=open_text(keys, "issues", issue.id, "description", row.description),
        labels=open_labels(keys, issue.id, row.labels),
    )


def _comment(row: Any, keys: TenantKeys) -> StoredComment:
    """A row of `_COMMENT_COLUMNS` as a record, its body opened."""
    comment = StoredComment(*row)
    return dataclasses.replace(
        comment, body=open_text(keys, "comments", comment.id, "body", row.body)
    )


def _issue_values(issue: StoredIssue, keys: TenantKeys) -> dict[str, Any]:
    """The INSERT values of a new issue, fields sealed (the session fills in its tenant)."""
    return {
        "id": issue.id,
        "project_key": issue.project_key,
        "number": issue.number,
        "summary": seal_text(keys, "issues", issue.id, "summary", issue.summary),
        "description": seal_text(keys, "issues", issue.id, "description", issue.description),
        "status": issue.status,
        "assignee": issue.assignee,
        "reporter": issue.reporter,
        "labels": seal_labels(keys, issue.id, issue.labels),
        "created_at": issue.created_at,
        "updated_at": issue.updated_at,
        "version": issue.version,
    }


def _insert_labels(session: TenantSession, keys: TenantKeys, issue: StoredIssue) -> None:
    """Mirror an issue's labels into rows the label filter finds by their blind index."""
    insert_label_rows(session, keys, issue.id, issue.labels)


def insert_label_rows(
    session: TenantSession, keys: TenantKeys, issue_id: str, labels: list[str]
) -> None:
    """Index rows of `labels` for one issue (which has none yet)."""
    rows = [{"issue_id": issue_id, "label": label_index(keys, x)} for x in labels]
    session.insert_rows(IssueLabel, rows)


def _given(fields: frozenset[str], name: str, value: str | None, current: str) -> str:
    """The new value of a non-nullable field if the PATCH set it, else the current one."""
    return value if name in fields and value is not None else current


def _cursor_time(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise bad_cursor()
    return moment


def _edit_conflict() -> ApiError:
    return ApiError(409, "edit_conflict", "the issue changed meanwhile; read it and retry")


def _project_exists(key: str) -> ApiError:
    return ApiError(409, "project_exists", f"project {key} already exists")


def _project_not_empty(key: str) -> ApiError:
    return ApiError(409, "project_not_empty", f"project {key} still has issues; delete them first")


def _project_not_found(key: str) -> ApiError:
    return ApiError(404, "project_not_found", f"project {key} was not found")
