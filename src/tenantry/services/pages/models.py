"""The pages service's tables: spaces, their pages and every version of each, all tenant-owned.

Every primary key starts with `tenant_id`, and every foreign key carries it. Titles and bodies
are sealed with the tenant's data key (bound to row and column), in `pages` (the current
version, what reads serve) and in `page_versions` (the history). `page_terms` is the search
index: a blind index (HMAC under the tenant's index key) of each word of a page's title and
text, so pages are found by word without any word stored readable. `view_outbox` holds page
views until analytics has them (`views`); like an audit outbox it names its tenant in a column
of its own (`cloud_id`), so the loop that delivers it sees every tenant's rows.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import (
    Column,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tenantry.platform.storage.migrations import ServiceSchema
from tenantry.platform.storage.model import TENANT_ID_LENGTH, TenantOwned, UtcDateTime

SPACE_KEY_LENGTH = 10
ACCOUNT_ID_LENGTH = 64
TERM_LENGTH = 64
SITE_LENGTH = 63


class PagesBase(DeclarativeBase):
    """Declarative base of the pages service's own database (one per shard)."""


class Space(TenantOwned, PagesBase):
    """A tenant's space: a key (`ENG`) and a name; its pages form one tree."""

    __tablename__ = "spaces"

    key: Mapped[str] = mapped_column(String(SPACE_KEY_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Page(TenantOwned, PagesBase):
    """A page as it is now: its place in its space's tree and its current version."""

    __tablename__ = "pages"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "space_key"], ["spaces.tenant_id", "spaces.key"]),
        Index("ix_pages_tree", "tenant_id", "space_key", "parent_id", "position"),
        Index("ix_pages_deleted", "tenant_id", "deleted_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    space_key: Mapped[str] = mapped_column(String(SPACE_KEY_LENGTH))
    # A page of the same space, or None at the top of the tree.
    parent_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[bytes] = mapped_column(LargeBinary)  # sealed
    body: Mapped[bytes] = mapped_column(LargeBinary)  # sealed JSON of the document
    version: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(ACCOUNT_ID_LENGTH))
    updated_by: Mapped[str] = mapped_column(String(ACCOUNT_ID_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # When it went to the trash (epoch seconds) and by whom; None while it is not there.
    deleted_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    deleted_by: Mapped[str | None] = mapped_column(String(ACCOUNT_ID_LENGTH), nullable=True)


class PageVersion(TenantOwned, PagesBase):
    """One saved version of a page, kept for its history, diffs and restores."""

    __tablename__ = "page_versions"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "page_id"], ["pages.tenant_id", "pages.id"], ondelete="CASCADE"
        ),
    )

    page_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[bytes] = mapped_column(LargeBinary)  # sealed
    body: Mapped[bytes] = mapped_column(LargeBinary)  # sealed
    author: Mapped[str] = mapped_column(String(ACCOUNT_ID_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class PageTerm(TenantOwned, PagesBase):
    """One word of a page's current title or text, as its blind index."""

    __tablename__ = "page_terms"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "page_id"], ["pages.tenant_id", "pages.id"], ondelete="CASCADE"
        ),
        Index("ix_page_terms_term", "tenant_id", "term"),
    )

    page_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    term: Mapped[str] = mapped_column(String(TERM_LENGTH), primary_key=True)


class ViewOutboxRow(PagesBase):
    """A page view not yet delivered to analytics: its id (the same on every delivery, so
    analytics counts it once), the page and its space, the viewer, and when.

    Not `TenantOwned`: its tenant column is `cloud_id`, as in an audit outbox, so row-level
    security does not hide the rows from the loop that delivers every tenant's views.
    """

    __tablename__ = "view_outbox"
    __table_args__ = (Index("ix_view_outbox_due", "next_attempt_at"),)

    outbox_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    cloud_id: Mapped[str] = mapped_column(String(TENANT_ID_LENGTH))
    view_id: Mapped[str] = mapped_column(String(32))
    page_id: Mapped[str] = mapped_column(String(32))
    space_key: Mapped[str] = mapped_column(String(SPACE_KEY_LENGTH))
    account_id: Mapped[str] = mapped_column(String(ACCOUNT_ID_LENGTH))
    viewed_at: Mapped[float] = mapped_column(Float)
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[float] = mapped_column(Float)


trash_tenants = Table(
    "trash_tenants",
    PagesBase.metadata,
    Column("cloud_id", String(TENANT_ID_LENGTH), primary_key=True),
    Column("site", String(SITE_LENGTH), nullable=False),
    Column("noted_at", Float, nullable=False),
)
"""The tenants of a shard that may have pages in their trash, so the purge loop finds them
(row-level security hides every tenant's pages unless the tenant is named). Holds no tenant
data."""


SCHEMA = ServiceSchema(
    "pages", PagesBase.metadata, Path(__file__).with_name("migrations"), head_revision="0003"
)
"""The pages service's tables on every shard, built by its revisions."""
