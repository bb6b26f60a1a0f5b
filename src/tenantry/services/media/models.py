"""The media service's tables: files, chunked upload sessions and their chunks, tenant settings,
each tenant's bytes in use, and the queue of files waiting for their previews.

Only metadata lives here; the bytes (encrypted) are in the blob store. Every tenant table's
primary key starts with `tenant_id`; the preview queue holds ids only.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Table,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tenantry.platform.audit.outbox import AuditOutboxColumns
from tenantry.platform.storage.migrations import ServiceSchema
from tenantry.platform.storage.model import TENANT_ID_LENGTH, TenantOwned, UtcDateTime

ID_LENGTH = 32
COLLECTION_LENGTH = 128
NAME_LENGTH = 255
MEDIA_TYPE_LENGTH = 128
REASON_LENGTH = 64
RETIRED_PREFIX_LENGTH = 64


class MediaBase(DeclarativeBase):
    """Declarative base of the media service's own database (one per shard)."""


class AuditOutboxRow(AuditOutboxColumns, MediaBase):
    """A tenant's media event (settings changed), written with the change, until audit has it."""

    __tablename__ = "audit_outbox"


class MediaFile(TenantOwned, MediaBase):
    """One stored file of a collection, with what sniffing and processing found."""

    __tablename__ = "media_files"
    __table_args__ = (Index("ix_media_files_collection", "tenant_id", "collection", "created_at"),)

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    collection: Mapped[str] = mapped_column(String(COLLECTION_LENGTH))
    # A display name only (sanitised); the blob's key never derives from it.
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    media_type: Mapped[str] = mapped_column(String(MEDIA_TYPE_LENGTH))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    key_version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(REASON_LENGTH))
    preview_pages: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # In its owner's trash: kept whole, but neither listed nor served until it is restored.
    trashed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The account that uploaded it, so a person's export and erasure find their files.
    uploaded_by: Mapped[str | None] = mapped_column(String(ID_LENGTH), nullable=True)


class MediaUpload(TenantOwned, MediaBase):
    """A chunked upload under way: the file it will become once every chunk is in."""

    __tablename__ = "media_uploads"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    collection: Mapped[str] = mapped_column(String(COLLECTION_LENGTH))
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    size: Mapped[int] = mapped_column(BigInteger)
    chunk_size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    uploaded_by: Mapped[str | None] = mapped_column(String(ID_LENGTH), nullable=True)


class MediaUploadChunk(TenantOwned, MediaBase):
    """One received chunk of an upload: its size and the sha256 it was checked against."""

    __tablename__ = "media_upload_chunks"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "upload_id"],
            ["media_uploads.tenant_id", "media_uploads.id"],
            ondelete="CASCADE",
        ),
    )

    upload_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    key_version: Mapped[int] = mapped_column(Integer)


class MediaSettings(TenantOwned, MediaBase):
    """A tenant's media settings; a tenant without a row has the defaults."""

    __tablename__ = "media_settings"

    # One row per tenant: the tenant id alone is the key, this column just names the row.
    scope: Mapped[str] = mapped_column(String(16), primary_key=True)
    view_only: Mapped[bool] = mapped_column(Boolean)
    max_file_bytes: Mapped[int | None] = mapped_column(BigInteger)
    quota_bytes: Mapped[int | None] = mapped_column(BigInteger)


class MediaUsage(TenantOwned, MediaBase):
    """The bytes a tenant holds or has reserved, changed only by conditional updates.

    Uploads charge it in the same transaction as the row they add, with
    `UPDATE ... WHERE used_bytes + size <= quota`, so concurrent uploads cannot pass the quota.
    """

    __tablename__ = "media_usage"

    scope: Mapped[str] = mapped_column(String(16), primary_key=True)
    used_bytes: Mapped[int] = mapped_column(BigInteger)


SITE_LENGTH = 63

# Files waiting for their previews, across the shard's tenants: ids and the site's name only
# (no tenant data), so media can find and re-queue them when it starts again after a stop.
# A plain table (no `tenant_id`, no row-level security), read and written outside tenant sessions.
preview_queue = Table(
    "media_preview_queue",
    MediaBase.metadata,
    Column("cloud_id", String(TENANT_ID_LENGTH), primary_key=True),
    Column("file_id", String(ID_LENGTH), primary_key=True),
    Column("site", String(SITE_LENGTH), nullable=False),
    Column("queued_at", UtcDateTime, nullable=False),
)


blob_retirements = Table(
    "blob_retirements",
    MediaBase.metadata,
    Column("cloud_id", String(TENANT_ID_LENGTH), primary_key=True),
    Column("prefix", String(RETIRED_PREFIX_LENGTH), primary_key=True),
    Column("due_at", Float, nullable=False, index=True),
)
"""Blob trees whose rows are gone (a deleted file, a finished or cancelled upload), kept where
they are until backups no longer reach back to when the rows still named them. Names tenants
and blob ids only, never their content."""


SCHEMA = ServiceSchema(
    "media", MediaBase.metadata, Path(__file__).with_name("migrations"), head_revision="0006"
)
"""The media service's tables on every shard, built by its revisions."""
