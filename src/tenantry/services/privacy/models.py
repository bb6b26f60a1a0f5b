"""The privacy service's tables: each export and erasure asked of a site, with its progress,
the export's zip (a media file) and the erasure's signed receipt; and its audit outbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Float, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tenantry.platform.audit.outbox import AuditOutboxColumns
from tenantry.platform.storage.migrations import ServiceSchema
from tenantry.platform.storage.model import TenantOwned

ID_LENGTH = 32


class PrivacyBase(DeclarativeBase):
    """Declarative base of the privacy service's own database (one per shard)."""


class PrivacyRequest(TenantOwned, PrivacyBase):
    """One export or erasure of one account of the site."""

    __tablename__ = "privacy_requests"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    account_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    requested_by: Mapped[str | None] = mapped_column(String(ID_LENGTH), nullable=True)
    content: Mapped[str | None] = mapped_column(String(8), nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    stores: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    """What each store did so far: its name and the time, with its actions for an erasure."""
    file_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), nullable=True)
    """The export's zip, a file of media's collection `privacy:<id>`."""
    receipt: Mapped[str | None] = mapped_column(Text, nullable=True)
    reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    finished_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class AuditOutboxRow(AuditOutboxColumns, PrivacyBase):
    """An export's or erasure's audit event, written with the request's row, until audit has it."""

    __tablename__ = "audit_outbox"


SCHEMA = ServiceSchema(
    "privacy", PrivacyBase.metadata, Path(__file__).with_name("migrations"), head_revision="0001"
)
"""The privacy service's table on every shard, built by its revision."""
