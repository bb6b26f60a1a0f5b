"""What the issues API accepts and answers: strict pydantic models with no unknown fields.

Strict types mean `"summary": 5` is a 422, not the string "5"; `extra="forbid"` means a typo'd
or unexpected field is a 422 rather than silently ignored. Names and summaries are one-line text,
descriptions and comments multi-line text (`tenantry.platform.text`): control and bidirectional
characters are a 422 in either.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from tenantry.platform.text import MultiLineText, OneLineText
from tenantry.services.issues.identifiers import LABEL_PATTERN, PROJECT_KEY_PATTERN
from tenantry.services.issues.records import StoredComment, StoredIssue, StoredProject
from tenantry.services.issues.workflow import Status

MAX_TEXT_BYTES = 32 * 1024
MAX_LABELS = 20


def _within_text_limit(value: str) -> str:
    if len(value.encode("utf-8")) > MAX_TEXT_BYTES:
        raise ValueError(f"must be at most {MAX_TEXT_BYTES} bytes of UTF-8")
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def _distinct(values: list[str]) -> list[str]:
    if len(set(values)) != len(values):
        raise ValueError("labels must be distinct")
    return values


ProjectKey = Annotated[str, StringConstraints(pattern=PROJECT_KEY_PATTERN)]
ProjectName = Annotated[
    OneLineText, StringConstraints(min_length=1, max_length=255), AfterValidator(_not_blank)
]
Summary = Annotated[
    OneLineText, StringConstraints(min_length=1, max_length=255), AfterValidator(_not_blank)
]
Description = Annotated[MultiLineText, AfterValidator(_within_text_limit)]
CommentBody = Annotated[
    MultiLineText, StringConstraints(min_length=1), AfterValidator(_within_text_limit)
]
AccountId = Annotated[OneLineText, StringConstraints(min_length=1, max_length=64)]
Label = Annotated[str, StringConstraints(pattern=LABEL_PATTERN)]
Labels = Annotated[list[Label], Field(max_length=MAX_LABELS), AfterValidator(_distinct)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class NewProject(_Request):
    """Body of `POST /projects`."""

    key: ProjectKey
    name: ProjectName


class NewIssue(_Request):
    """Body of `POST /issues`."""

    project: ProjectKey
    summary: Summary
    description: Description
    assignee: AccountId | None = None
    labels: Labels = Field(default_factory=list)


class IssuePatch(_Request):
    """Body of `PATCH /issues/{key}`: only the fields present change; `assignee: null` unassigns."""

    status: Status | None = None
    assignee: AccountId | None = None
    summary: Summary | None = None
    description: Description | None = None
    labels: Labels | None = None

    @model_validator(mode="after")
    def _changes_something(self) -> Self:
        if not self.model_fields_set:
            raise ValueError("a patch must name at least one field")
        for name in self.model_fields_set - {"assignee"}:
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class NewComment(_Request):
    """Body of `POST /issues/{key}/comments`."""

    body: CommentBody


class ProjectOut(BaseModel):
    """A project as the API shows it."""

    key: str
    name: str

    @classmethod
    def of(cls, project: StoredProject) -> ProjectOut:
        """Render a stored project."""
        return cls(key=project.key, name=project.name)


class ProjectList(BaseModel):
    """Answer of `GET /projects`."""

    projects: list[ProjectOut]


class IssueOut(BaseModel):
    """An issue as the API shows it."""

    key: str
    id: str
    project: str
    summary: str
    description: str
    status: str
    assignee: str | None
    reporter: str
    labels: list[str]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, issue: StoredIssue) -> IssueOut:
        """Render a stored issue."""
        return cls(
            key=issue.key,
            id=issue.id,
            project=issue.project_key,
            summary=issue.summary,
            description=issue.description,
            status=issue.status,
            assignee=issue.assignee,
            reporter=issue.reporter,
            labels=list(issue.labels),
            created_at=issue.created_at,
            updated_at=issue.updated_at,
        )


class IssuePage(BaseModel):
    """Answer of `GET /issues`: one page, and the cursor of the next (null on the last)."""

    issues: list[IssueOut]
    next_cursor: str | None


class CommentOut(BaseModel):
    """A comment as the API shows it."""

    id: str
    body: str
    author: str
    created_at: datetime

    @classmethod
    def of(cls, comment: StoredComment) -> CommentOut:
        """Render a stored comment."""
        return cls(
            id=comment.id, body=comment.body, author=comment.author, created_at=comment.created_at
        )


class CommentPage(BaseModel):
    """Answer of `GET /issues/{key}/comments`: oldest first, one page at a time."""

    comments: list[CommentOut]
    next_cursor: str | None
