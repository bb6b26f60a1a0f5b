"""The issues service's tables: projects, their issues, labels and comments, all tenant-owned.

Every primary key starts with `tenant_id`, and every foreign key carries it, so no row can
point at another tenant's row. The one exception is `attachment_cleanup_tenants`, which names
only tenants (never their data) so the cleanup loop can find its work on a whole shard.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tenantry.platform.storage.migrations import ServiceSchema
from tenantry.platform.storage.model import TENANT_ID_LENGTH, TenantOwned, UtcDateTime

PROJECT_KEY_LENGTH = 10
ACCOUNT_ID_LENGTH = 64
LABEL_INDEX_LENGTH = 64
COLLECTION_LENGTH = 64
SITE_LENGTH = 63


class IssuesBase(DeclarativeBase):
    """Declarative base of the issues service's own database (one per shard)."""


class Project(TenantOwned, IssuesBase):
    """A tenant's project: the key its issue keys start with, and the counter that numbers them."""

    __tablename__ = "projects"

    key: Mapped[str] = mapped_column(String(PROJECT_KEY_LENGTH), primary_key=True)
    # Sealed, like an issue's summary. The empty default (which never opens) is there because
    # SQLite adds a NOT NULL column only with one (revision 0004); every write gives a value.
    name: Mapped[bytes] = mapped_column(LargeBinary, server_default="")
    # The number of the project's last issue; raised by one UPDATE per new issue.
    last_number: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Issue(TenantOwned, IssuesBase):
    """One issue, known by its key (`OPS-12`) and by an internal id that never changes."""

    __tablename__ = "issues"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "project_key"], ["projects.tenant_id", "projects.key"]),
        UniqueConstraint("tenant_id", "project_key", "number"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project_key: Mapped[str] = mapped_column(String(PROJECT_KEY_LENGTH))
    number: Mapped[int] = mapped_column(Integer)
    # Sealed with the tenant's data key (bound to this row and column), never plaintext.
    summary: Mapped[bytes] = mapped_column(LargeBinary)
    description: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(32))
    assignee: Mapped[str | None] = mapped_column(String(ACCOUNT_ID_LENGTH))
    reporter: Mapped[str] = mapped_column(String(ACCOUNT_ID_LENGTH))
    # Sealed: the ordered list, as JSON (its empty default as a project's name's).
    labels: Mapped[bytes] = mapped_column(LargeBinary, server_default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # Optimistic locking: two concurrent changes cannot both pass the workflow check.
    version: Mapped[int] = mapped_column(Integer)
    # When it went to the trash (epoch seconds); None while it is not there.
    deleted_at: Mapped[float | None] = mapped_column(Float, nullable=True)

    __mapper_args__: dict[str, Any] = {"version_id_col": version}

    @property
    def key(self) -> str:
        """The issue's human key, e.g. `OPS-12`."""
        return f"{self.project_key}-{self.number}"


class IssueLabel(TenantOwned, IssuesBase):
    """One label of one issue, so listings can filter by label with an index on any database.

    `Issue.labels` keeps the ordered list the API shows, sealed; these rows mirror it by each
    label's blind index (`sealed_fields.label_index`), never its text.
    """

    __tablename__ = "issue_labels"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "issue_id"], ["issues.tenant_id", "issues.id"], ondelete="CASCADE"
        ),
        Index("ix_issue_labels_label", "tenant_id", "label"),
    )

    issue_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    label: Mapped[str] = mapped_column(String(LABEL_INDEX_LENGTH), primary_key=True)


class Comment(TenantOwned, IssuesBase):
    """A comment on an issue, in the order it was written."""

    __tablename__ = "comments"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "issue_id"], ["issues.tenant_id", "issues.id"], ondelete="CASCADE"
        ),
        Index("ix_comments_issue", "tenant_id", "issue_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    issue_id: Mapped[str] = mapped_column(String(32))
    body: Mapped[bytes] = mapped_column(LargeBinary)  # sealed, like an issue's summary
    author: Mapped[str] = mapped_column(String(ACCOUNT_ID_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    deleted_at: Mapped[float | None] = mapped_column(Float, nullable=True)  # as an issue's


class TrashItem(TenantOwned, IssuesBase):
    """A deleted issue, comment or attachment, restorable until the trash is purged.

    The issue or comment row stays where it was, marked deleted; an attachment stays in media,
    marked trashed there. `title` (sealed like a summary) says what the item was.
    """

    __tablename__ = "trash_items"
    __table_args__ = (Index("ix_trash_items_deleted", "tenant_id", "deleted_at", "id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    issue_id: Mapped[str] = mapped_column(String(32))
    issue_key: Mapped[str] = mapped_column(String(32))
    item_id: Mapped[str] = mapped_column(String(32))
    title: Mapped[bytes] = mapped_column(LargeBinary)
    deleted_at: Mapped[float] = mapped_column(Float)
    deleted_by: Mapped[str] = mapped_column(String(ACCOUNT_ID_LENGTH))


class AttachmentDeletion(TenantOwned, IssuesBase):
    """A deleted issue's media collection that media has not yet confirmed deleted.

    Written in the transaction that deletes the issue and removed once media deleted the
    collection, so a deleted issue's files cannot outlive it when media is down.
    """

    __tablename__ = "attachment_deletions"

    collection: Mapped[str] = mapped_column(String(COLLECTION_LENGTH), primary_key=True)
    created_at: Mapped[float] = mapped_column(Float)
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[float] = mapped_column(Float)


attachment_cleanup_tenants = Table(
    "attachment_cleanup_tenants",
    IssuesBase.metadata,
    Column("cloud_id", String(TENANT_ID_LENGTH), primary_key=True),
    Column("site", String(SITE_LENGTH), nullable=False),
    Column("noted_at", Float, nullable=False),
)
"""The tenants of a shard that may have `attachment_deletions` rows, with their site names.

Row-level security hides every tenant's deletions unless the tenant is named, so the cleanup
loop learns here whom to name (and which site to ask tcs about). Holds no tenant data.
"""


trash_tenants = Table(
    "trash_tenants",
    IssuesBase.metadata,
    Column("cloud_id", String(TENANT_ID_LENGTH), primary_key=True),
    Column("site", String(SITE_LENGTH), nullable=False),
    Column("noted_at", Float, nullable=False),
)
"""The tenants of a shard that may have items in their trash, so the purge loop finds them
(as `attachment_cleanup_tenants` does for the outbox). Holds no tenant data."""


SCHEMA = ServiceSchema(
    "issues", IssuesBase.metadata, Path(__file__).with_name("migrations"), head_revision="0004"
)
"""The issues service's tables on every shard, built by its revisions."""
