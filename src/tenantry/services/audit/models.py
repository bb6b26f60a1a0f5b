"""The audit service's tables, on every shard of its region: one Merkle tree per tenant.

`audit_events` holds each entry exactly as its leaf was hashed; `audit_nodes` every complete
subtree's hash, so proofs never rebuild the tree; `audit_checkpoints` every signed checkpoint.
`audit_trees` says how large each tenant's tree is and how much of it is signed. Its column is
deliberately not `tenant_id`: on PostgreSQL that name puts a table under row-level security,
which would hide the list from the loop that signs every grown tree. It holds ids and sizes only.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import BigInteger, Float, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tenantry.platform.storage.migrations import ServiceSchema
from tenantry.platform.storage.model import KEEP_LIVE_ON_RESTORE, TENANT_ID_LENGTH, TenantOwned

EVENT_ID_LENGTH = 36
ACTION_LENGTH = 64


class AuditBase(DeclarativeBase):
    """Declarative base of the audit service's databases."""


class AuditEntry(TenantOwned, AuditBase):
    """One event of a tenant's log: the leaf at `leaf_index`, its canonical JSON in `entry`."""

    __tablename__ = "audit_events"
    # A tenant restore leaves the log as it is: it is what happened, restores included.
    __table_args__ = (UniqueConstraint("tenant_id", "event_id"), {"info": KEEP_LIVE_ON_RESTORE})

    leaf_index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    event_id: Mapped[str] = mapped_column(String(EVENT_ID_LENGTH))
    action: Mapped[str] = mapped_column(String(ACTION_LENGTH))
    entry: Mapped[str] = mapped_column(Text)


LEVEL_SHIFT = 48
"""A node's key is `level << LEVEL_SHIFT | index`: one integer, so a proof's nodes are one
`IN` on the primary key (a tree of 2**48 entries is far beyond any log)."""


def node_key(level: int, index: int) -> int:
    """The key of the complete subtree (level, index)."""
    return level << LEVEL_SHIFT | index


def node_of(key: int) -> tuple[int, int]:
    """The (level, index) of a node key."""
    return key >> LEVEL_SHIFT, key & ((1 << LEVEL_SHIFT) - 1)


class AuditNode(TenantOwned, AuditBase):
    """The hash of a complete subtree: 2**level leaves from leaf index * 2**level, keyed by
    `node_key(level, index)`."""

    __tablename__ = "audit_nodes"
    __table_args__ = {"info": KEEP_LIVE_ON_RESTORE}

    node_key: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary)


class AuditCheckpoint(TenantOwned, AuditBase):
    """A signed checkpoint of a tenant's tree at `tree_size`, as the signed note served."""

    __tablename__ = "audit_checkpoints"
    __table_args__ = {"info": KEEP_LIVE_ON_RESTORE}

    tree_size: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    signed_at: Mapped[float] = mapped_column(Float)
    note: Mapped[str] = mapped_column(Text)


class AuditTree(AuditBase):
    """How many entries a tenant's tree holds, and the size of its latest checkpoint."""

    __tablename__ = "audit_trees"

    cloud_id: Mapped[str] = mapped_column(String(TENANT_ID_LENGTH), primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    signed_size: Mapped[int] = mapped_column(Integer)


SCHEMA = ServiceSchema(
    "audit", AuditBase.metadata, Path(__file__).with_name("migrations"), head_revision="0001"
)
"""The audit tables on every shard of the region, built by its revisions."""
