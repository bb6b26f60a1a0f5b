"""The issues service's reads and writes, on a tenant session, with the API's error answers.

Route handlers do HTTP; these functions do storage. Each takes the tenant session it runs in,
so everything here is confined to the current tenant by construction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from tenantry.platform.errors import ApiError
from tenantry.platform.storage.model import utc_now
from tenantry.platform.storage.tenant_session import TenantSession
from tenantry.services.issues.cursor import decode_cursor, encode_cursor
from tenantry.services.issues.keys import IssueRef
from tenantry.services.issues.models import Comment, Issue, IssueLabel, Project
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


def create_project(session: TenantSession, key: str, name: str) -> Project:
    """Create a project, or answer 409 `project_exists` if this tenant already has the key."""
    if session.get(Project, (session.tenant_id, key)) is not None:
        raise _project_exists(key)
    project = Project(key=key, name=name, last_number=0, created_at=utc_now())
    session.add(project)
    try:
        session.flush()
    except IntegrityError:
        raise _project_exists(key) from None
    return project


def list_projects(session: TenantSession) -> list[Project]:
    """All of this tenant's projects, by key."""
    return list(session.scalars(select(Project).order_by(Project.key)))


def get_project(session: TenantSession, key: str) -> Project:
    """One project, or 404 `project_not_found`."""
    project = session.get(Project, (session.tenant_id, key))
    if project is None:
        raise _project_not_found(key)
    return project


def create_issue(
    session: TenantSession,
    *,
    project: str,
    summary: str,
    description: str,
    reporter: str,
    assignee: str | None = None,
    labels: list[str] | None = None,
) -> Issue:
    """Create an issue with the project's next number (safe under concurrent creates)."""
    # One UPDATE both takes the next number and write-locks the counter until commit, so two
    # concurrent creates can never get the same number.
    number = session.execute(
        update(Project)
        .where(Project.key == project)
        .values(last_number=Project.last_number + 1)
        .returning(Project.last_number),
        execution_options={"synchronize_session": False},
    ).scalar_one_or_none()
    if number is None:
        raise _project_not_found(project)
    now = utc_now()
    issue = Issue(
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
    )
    session.add(issue)
    session.add_all(IssueLabel(issue_id=issue.id, label=label) for label in issue.labels)
    session.flush()
    return issue


def find_issue(session: TenantSession, ref: IssueRef) -> Issue:
    """The issue a key or id names, or 404 `issue_not_found` (also for other tenants' issues)."""
    if ref.id is not None:
        issue = session.get(Issue, (session.tenant_id, ref.id))
    else:
        issue = session.scalars(
            select(Issue).where(Issue.project_key == ref.project, Issue.number == ref.number)
        ).one_or_none()
    if issue is None:
        raise ApiError(404, "issue_not_found", "no such issue")
    return issue


def change_issue(session: TenantSession, issue: Issue, changes: IssueChanges) -> Issue:
    """Apply a PATCH: the workflow decides status changes; a concurrent edit answers 409."""
    if "status" in changes.fields and changes.status is not None:
        check_transition(issue.status, changes.status)
        issue.status = changes.status
    if "assignee" in changes.fields:
        issue.assignee = changes.assignee
    if "summary" in changes.fields and changes.summary is not None:
        issue.summary = changes.summary
    if "description" in changes.fields and changes.description is not None:
        issue.description = changes.description
    if "labels" in changes.fields and changes.labels is not None:
        issue.labels = list(changes.labels)
        session.execute(delete(IssueLabel).where(IssueLabel.issue_id == issue.id))
        session.add_all(IssueLabel(issue_id=issue.id, label=label) for label in issue.labels)
    issue.updated_at = utc_now()
    _flush_or_conflict(session)
    return issue


def delete_issue(session: TenantSession, issue: Issue) -> None:
    """Delete an issue; its labels and comments go with it (foreign keys cascade)."""
    session.delete(issue)
    _flush_or_conflict(session)


def list_issues(
    session: TenantSession, where: IssueFilter, limit: int, cursor: str | None
) -> tuple[list[Issue], str | None]:
    """One page of issues in key order, and the cursor of the next page (None on the last)."""
    query = select(Issue)
    if where.project is not None:
        query = query.where(Issue.project_key == where.project)
    if where.status is not None:
        query = query.where(Issue.status == where.status)
    if where.assignee is not None:
        query = query.where(Issue.assignee == where.assignee)
    if where.label is not None:
        query = query.join(
            IssueLabel,
            and_(
                IssueLabel.tenant_id == Issue.tenant_id,
                IssueLabel.issue_id == Issue.id,
                IssueLabel.label == where.label,
            ),
        )
    if cursor is not None:
        after_project, after_number = decode_cursor(cursor, (str, int))
        query = query.where(
            or_(
                Issue.project_key > after_project,
                and_(Issue.project_key == after_project, Issue.number > after_number),
            )
        )
    rows = list(session.scalars(query.order_by(Issue.project_key, Issue.number).limit(limit + 1)))
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], encode_cursor(last.project_key, last.number)


def add_comment(session: TenantSession, issue: Issue, body: str, author: str) -> Comment:
    """Add a comment to an issue."""
    comment = Comment(
        id=uuid.uuid4().hex, issue_id=issue.id, body=body, author=author, created_at=utc_now()
    )
    session.add(comment)
    session.flush()
    return comment


def list_comments(
    session: TenantSession, issue: Issue, limit: int, cursor: str | None
) -> tuple[list[Comment], str | None]:
    """One page of an issue's comments, oldest first, and the cursor of the next page."""
    query = select(Comment).where(Comment.issue_id == issue.id)
    if cursor is not None:
        after_time, after_id = decode_cursor(cursor, (str, str))
        after = _cursor_time(after_time)
        query = query.where(
            or_(
                Comment.created_at > after,
                and_(Comment.created_at == after, Comment.id > after_id),
            )
        )
    query = query.order_by(Comment.created_at, Comment.id).limit(limit + 1)
    rows = list(session.scalars(query))
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], encode_cursor(last.created_at.isoformat(), last.id)


def _cursor_time(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ApiError(422, "invalid_cursor", "the cursor is not one this API handed out")
    return moment


def _flush_or_conflict(session: TenantSession) -> None:
    try:
        session.flush()
    except StaleDataError:
        raise ApiError(
            409, "edit_conflict", "the issue changed meanwhile; read it and retry"
        ) from None


def _project_exists(key: str) -> ApiError:
    return ApiError(409, "project_exists", f"project {key} already exists")


def _project_not_found(key: str) -> ApiError:
    return ApiError(404, "project_not_found", f"project {key} was not found")
