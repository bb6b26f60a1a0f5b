"""Per-tenant bytes in use (for an atomic quota check) and the queue of files awaiting previews.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create `media_usage` (tenant-owned) and `media_preview_queue` (ids only).

    Usage rows are not filled here: row-level security hides every tenant's files from a
    migration, so media counts a tenant's bytes the first time it charges that tenant.
    """
    op.create_table(
        "media_usage",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("used_bytes", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "scope"),
    )
    op.create_table(
        "media_preview_queue",
        sa.Column("cloud_id", sa.String(length=64), nullable=False),
        sa.Column("file_id", sa.String(length=32), nullable=False),
        sa.Column("site", sa.String(length=63), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("cloud_id", "file_id"),
    )
