"""The issues HTTP API under `/rest/issues`: projects, issues, workflow changes and comments.

Handlers learn the tenant and user only from `tenantry.platform.context` and reach storage only
through the tenant-scoped sessions of `Databases`. Who may do what is `tenantry.platform.users`:
any user of the site reads; members and admins create and edit issues and comment; only admins
create and delete projects; an issue is deleted by an admin or its reporter, a comment by an
admin or its author. Deleting moves a thing to the site's trash (`trash`), where it can be
restored until it is purged.
"""

from __future__ import annotations

from typing import Annotated, Protocol

from fastapi import APIRouter, Query
from starlette.responses import Response

from tenantry.platform.context import UserContext
from tenantry.platform.cursors import MAX_CURSOR_LENGTH, ListCursors
from tenantry.platform.data_keys import DataKeys, TenantKeys
from tenantry.platform.storage.databases import Databases
from tenantry.platform.text import OneLineText
from tenantry.platform.users import Admin, Member, SignedIn, require_admin_or_author
from tenantry.services.issues import store, trash
from tenantry.services.issues.identifiers import (
    LABEL_PATTERN,
    PROJECT_KEY_PATTERN,
    parse_issue_ref,
    parse_project_key,
)
from tenantry.services.issues.schemas import (
    CommentOut,
    CommentPage,
    IssueOut,
    IssuePage,
    IssuePatch,
    NewComment,
    NewIssue,
    NewProject,
    ProjectList,
    ProjectOut,
)
from tenantry.services.issues.site_accounts import SiteAccounts
from tenantry.services.issues.workflow import Status

PREFIX = "/rest/issues"
DEFAULT_PAGE = 50
MAX_PAGE = 100

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]
Cursor = Annotated[str | None, Query(max_length=MAX_CURSOR_LENGTH)]


class Trashing(Protocol):
    """What a deletion needs to move a thing to the trash (`TrashPurges` in the service)."""

    def prepare(self) -> None:
        """Runs before the trashing transaction begins (notes the tenant for the purge loop)."""

    def now(self) -> float:
        """The time the deletion is recorded at."""

    async def hide_attachments(self, issue_key: str, user: UserContext) -> None:
        """Runs once an issue's trashing committed: its attachments stop being served."""


def build_router(
    databases: Databases,
    data_keys: DataKeys,
    accounts: SiteAccounts,
    cursors: ListCursors,
    trashing: Trashing,
) -> APIRouter:
    """The issues routes, storing through `databases` (one per process, shared by all tenants).

    `accounts` says which accounts may be assignees; listings hand out and take back `cursors`.
    Deleted issues and comments go to the trash, through `trashing`.

    Handlers are coroutines that run their few, short SQLite statements on the event loop: on
    the spine benchmark that halved the service's CPU per request against plain `def` handlers,
    whose two threadpool hops per request cost more than the statements themselves. Work that
    reads or writes sealed fields runs through `data_keys.run`, which hands it the tenant's keys.
    """
    router = APIRouter(prefix=PREFIX, tags=["issues"])

    @router.post("/projects", status_code=201)
    async def create_project(body: NewProject, _admin: Admin) -> ProjectOut:
        def create(keys: TenantKeys) -> ProjectOut:
            with databases.session() as session:
                return ProjectOut.of(store.create_project(session, keys, body.key, body.name))

        return await data_keys.run(create)

    @router.delete("/projects/{key}", status_code=204, response_class=Response)
    async def delete_project(key: str, _admin: Admin) -> Response:
        project_key = parse_project_key(key)
        with databases.session() as session:
            store.delete_project(session, project_key)
        return Response(status_code=204)

    @router.get("/projects")
    async def list_projects(_user: SignedIn) -> ProjectList:
        def read(keys: TenantKeys) -> ProjectList:
            with databases.session() as session:
                projects = store.list_projects(session, keys)
                return ProjectList(projects=[ProjectOut.of(p) for p in projects])

        return await data_keys.run(read)

    @router.get("/projects/{key}")
    async def get_project(key: str, _user: SignedIn) -> ProjectOut:
        project_key = parse_project_key(key)

        def read(keys: TenantKeys) -> ProjectOut:
            with databases.session() as session:
                return ProjectOut.of(store.get_project(session, keys, project_key))

        return await data_keys.run(read)

    @router.post("/issues", status_code=201)
    async def create_issue(body: NewIssue, user: Member) -> IssueOut:
        if body.assignee is not None:
            await accounts.require_assignee(body.assignee)

        def create(keys: TenantKeys) -> IssueOut:
            with databases.session() as session:
                issue = store.create_issue(
                    session,
                    keys,
                    project=body.project,
                    summary=body.summary,
                    description=body.description,
                    reporter=user.account_id,
                    assignee=body.assignee,
                    labels=body.labels,
                )
                return IssueOut.of(issue)

        return await data_keys.run(create)

    @router.get("/issues")
    async def list_issues(
        _user: SignedIn,
        project: Annotated[str | None, Query(pattern=PROJECT_KEY_PATTERN)] = None,
        status: Status | None = None,
        assignee: Annotated[OneLineText | None, Query(min_length=1, max_length=64)] = None,
        label: Annotated[str | None, Query(pattern=LABEL_PATTERN)] = None,
        limit: Limit = DEFAULT_PAGE,
        cursor: Cursor = None,
    ) -> IssuePage:
        where = store.IssueFilter(project=project, status=status, assignee=assignee, label=label)

        def page(keys: TenantKeys) -> IssuePage:
            with databases.session() as session:
                issues, next_cursor = store.list_issues(
                    session, keys, where, (cursors, limit, cursor)
                )
                return IssuePage(issues=[IssueOut.of(i) for i in issues], next_cursor=next_cursor)

        return await data_keys.run(page)

    @router.get("/issues/{key}")
    async def get_issue(key: str, _user: SignedIn) -> IssueOut:
        ref = parse_issue_ref(key)

        def read(keys: TenantKeys) -> IssueOut:
            with databases.session() as session:
                return IssueOut.of(store.find_issue(session, keys, ref))

        return await data_keys.run(read)

    @router.patch("/issues/{key}")
    async def patch_issue(key: str, body: IssuePatch, _user: Member) -> IssueOut:
        ref = parse_issue_ref(key)
        if body.assignee is not None:
            await accounts.require_assignee(body.assignee)
        changes = store.IssueChanges(
            fields=frozenset(body.model_fields_set),
            status=body.status,
            assignee=body.assignee,
            summary=body.summary,
            description=body.description,
            labels=body.labels,
        )

        def change(keys: TenantKeys) -> IssueOut:
            with databases.session() as session:
                issue = store.find_issue(session, keys, ref)
                return IssueOut.of(store.change_issue(session, keys, issue, changes))

        return await data_keys.run(change)

    @router.delete("/issues/{key}", status_code=204, response_class=Response)
    async def delete_issue(key: str, user: Member) -> Response:
        ref = parse_issue_ref(key)

        def delete(keys: TenantKeys) -> str:
            now = trashing.now()
            with databases.session() as session:
                issue = store.find_issue(session, keys, ref)
                require_admin_or_author(issue.reporter)
                store.trash_issue(session, issue, now)
                trash.put(
                    session,
                    keys,
                    trash.ISSUE,
                    (issue.id, issue.key),
                    (issue.id, issue.summary),
                    (now, user.account_id),
                )
                return issue.key

        trashing.prepare()
        key_of_issue = await data_keys.run(delete)
        await trashing.hide_attachments(key_of_issue, user)
        return Response(status_code=204)

    @router.delete("/issues/{key}/comments/{comment_id}", status_code=204, response_class=Response)
    async def delete_comment(key: str, comment_id: str, user: Member) -> Response:
        ref = parse_issue_ref(key)

        def delete(keys: TenantKeys) -> None:
            now = trashing.now()
            with databases.session() as session:
                issue = store.find_issue(session, keys, ref)
                comment = store.find_comment(session, keys, issue, comment_id)
                require_admin_or_author(comment.author)
                store.trash_comment(session, comment, now)
                trash.put(
                    session,
                    keys,
                    trash.COMMENT,
                    (issue.id, issue.key),
                    (comment.id, comment.body[: trash.TITLE_CHARACTERS]),
                    (now, user.account_id),
                )

        trashing.prepare()
        await data_keys.run(delete)
        return Response(status_code=204)

    @router.post("/issues/{key}/comments", status_code=201)
    async def add_comment(key: str, body: NewComment, user: Member) -> CommentOut:
        ref = parse_issue_ref(key)

        def comment(keys: TenantKeys) -> CommentOut:
            with databases.session() as session:
                issue = store.find_issue(session, keys, ref)
                made = store.add_comment(session, keys, issue, body.body, user.account_id)
                return CommentOut.of(made)

        return await data_keys.run(comment)

    @router.get("/issues/{key}/comments")
    async def list_comments(
        key: str, _user: SignedIn, limit: Limit = DEFAULT_PAGE, cursor: Cursor = None
    ) -> CommentPage:
        ref = parse_issue_ref(key)

        def page(keys: TenantKeys) -> CommentPage:
            with databases.session() as session:
                issue = store.find_issue(session, keys, ref)
                comments, next_cursor = store.list_comments(
                    session, keys, issue, (cursors, limit, cursor)
                )
                return CommentPage(
                    comments=[CommentOut.of(c) for c in comments], next_cursor=next_cursor
                )

        return await data_keys.run(page)

    return router
