"""The analytics service's tables: views per page per day, who viewed (for a while), and the
ids of views already counted, all tenant-owned.

Every primary key starts with `tenant_id`. `page_days` holds the counts, kept for good.
`page_viewers` holds which accounts viewed a page on a day, only so a second view by the same
account is not counted as a new viewer; it is dropped once the day is `VIEWER_DAYS` days past
(`retention`). `view_receipts` holds the id of every view counted, so a view delivered twice is
counted once; it goes after `RECEIPT_DAYS`. `viewer_tenants` names only tenants (never their
data) so the retention loop finds its work on a whole shard.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Column, Float, Index, Integer, String, Table
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tenantry.platform.storage.migrations import ServiceSchema
from tenantry.platform.storage.model import TENANT_ID_LENGTH, TenantOwned

PAGE_ID_LENGTH = 32
SPACE_KEY_LENGTH = 10
ACCOUNT_ID_LENGTH = 64
VIEW_ID_LENGTH = 32
DAY_LENGTH = 10
SITE_LENGTH = 63


class AnalyticsBase(DeclarativeBase):
    """Declarative base of the analytics service's own database (one per shard)."""


class PageDay(TenantOwned, AnalyticsBase):
    """The views of one page on one day (UTC, `YYYY-MM-DD`) and how many accounts made them."""

    __tablename__ = "page_days"
    __table_args__ = (Index("ix_page_days_space", "tenant_id", "space_key", "day"),)

    page_id: Mapped[str] = mapped_column(String(PAGE_ID_LENGTH), primary_key=True)
    day: Mapped[str] = mapped_column(String(DAY_LENGTH), primary_key=True)
    space_key: Mapped[str] = mapped_column(String(SPACE_KEY_LENGTH))
    views: Mapped[int] = mapped_column(Integer)
    unique_viewers: Mapped[int] = mapped_column(Integer)


class PageViewer(TenantOwned, AnalyticsBase):
    """One account that viewed a page on a day: kept only while that day's viewers can still
    grow (`retention.VIEWER_DAYS`), then dropped; the count stays in `page_days`."""

    __tablename__ = "page_viewers"
    __table_args__ = (Index("ix_page_viewers_day", "tenant_id", "day"),)

    page_id: Mapped[str] = mapped_column(String(PAGE_ID_LENGTH), primary_key=True)
    day: Mapped[str] = mapped_column(String(DAY_LENGTH), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(ACCOUNT_ID_LENGTH), primary_key=True)


class ViewReceipt(TenantOwned, AnalyticsBase):
    """The id of a view already counted, kept while a repeated delivery of it can still come."""

    __tablename__ = "view_receipts"
    __table_args__ = (Index("ix_view_receipts_day", "tenant_id", "received_day"),)

    view_id: Mapped[str] = mapped_column(String(VIEW_ID_LENGTH), primary_key=True)
    received_day: Mapped[str] = mapped_column(String(DAY_LENGTH))


viewer_tenants = Table(
    "viewer_tenants",
    AnalyticsBase.metadata,
    Column("cloud_id", String(TENANT_ID_LENGTH), primary_key=True),
    Column("site", String(SITE_LENGTH), nullable=False),
    Column("noted_at", Float, nullable=False),
)
"""The tenants of a shard that may have `page_viewers` or `view_receipts` rows to expire.

Row-level security hides every tenant's rows unless the tenant is named, so the retention loop
learns here whom to name. Holds no tenant data.
"""


SCHEMA = ServiceSchema(
    "analytics",
    AnalyticsBase.metadata,
    Path(__file__).with_name("migrations"),
    head_revision="0001",
)
"""The analytics service's tables on every shard, built by its revisions."""
