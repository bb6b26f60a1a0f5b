"""The key service's tables: tenants' wrapped data keys on their shards, root keys globally.

One schema serves both places, so `tenantry migrate` builds the same tables on the global
database and on every shard; kms uses `data_keys` and `key_holders` on shards, and `root_keys`
and `customer_keys` on the global database.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import Column, Integer, LargeBinary, String, Table
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tenantry.platform.audit.outbox import AuditOutboxColumns
from tenantry.platform.storage.migrations import ServiceSchema
from tenantry.platform.storage.model import (
    KEEP_LIVE_ON_RESTORE,
    TENANT_ID_LENGTH,
    TenantOwned,
    UtcDateTime,
)

KEY_REF_LENGTH = 2048  # AWS KMS key and alias ARNs stay well within this
REGION_LENGTH = 32
STATE_LENGTH = 16
ACCOUNT_ID_LENGTH = 64


class KmsBase(DeclarativeBase):
    """Declarative base of the key service's own databases."""


class WrappedDataKey(TenantOwned, KmsBase):
    """One version of a tenant's data key, only ever stored wrapped under a root key version."""

    __tablename__ = "data_keys"
    # A restore never brings back a destroyed key nor undoes a retirement.
    __table_args__ = {"info": KEEP_LIVE_ON_RESTORE}

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    root_key_ref: Mapped[str] = mapped_column(String(KEY_REF_LENGTH))
    root_version: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(STATE_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class AuditOutboxRow(AuditOutboxColumns, KmsBase):
    """A tenant's key event, written with the change it records, until audit has it."""

    __tablename__ = "audit_outbox"


# Which tenants of a shard have data keys, so a root rotation can visit each of them. Its column
# is deliberately not `tenant_id`: on PostgreSQL that name puts a table under row-level security,
# which would hide the list from the very loop that needs all of it. It holds ids only.
key_holders = Table(
    "key_holders",
    KmsBase.metadata,
    Column("cloud_id", String(TENANT_ID_LENGTH), primary_key=True),
    Column("created_at", UtcDateTime, nullable=False),
)

# Root key versions of every region (global control-plane data, not tenant data).
root_keys = Table(
    "root_keys",
    KmsBase.metadata,
    Column("region", String(REGION_LENGTH), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("ref", String(KEY_REF_LENGTH), nullable=False),
    Column("owner", String(ACCOUNT_ID_LENGTH), nullable=True),
    Column("state", String(STATE_LENGTH), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

# Tenants whose data keys are wrapped by their own AWS KMS key (BYOK), on the global database:
# which key, and whether kms last found it usable. kms's key watch reads it for its region.
customer_keys = Table(
    "customer_keys",
    KmsBase.metadata,
    Column("cloud_id", String(TENANT_ID_LENGTH), primary_key=True),
    Column("region", String(REGION_LENGTH), nullable=False, index=True),
    Column("shard", String(REGION_LENGTH), nullable=False),
    Column("key_ref", String(KEY_REF_LENGTH), nullable=False),
    Column("state", String(STATE_LENGTH), nullable=False),
    Column("changed_at", UtcDateTime, nullable=False),
)

SCHEMA = ServiceSchema(
    "kms", KmsBase.metadata, Path(__file__).with_name("migrations"), head_revision="0003"
)
"""The key service's tables on the global database and on every shard, built by its revisions."""
