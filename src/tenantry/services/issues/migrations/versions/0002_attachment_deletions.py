"""The outbox of deleted issues' media collections, and the tenants that have entries in it.

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
    """Create `attachment_deletions` (tenant-owned) and `attachment_cleanup_tenants`."""
    op.create_table(
        "attachment_deletions",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("collection", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "collection"),
    )
    op.create_table(
        "attachment_cleanup_tenants",
        sa.Column("cloud_id", sa.String(length=64), nullable=False),
        sa.Column("site", sa.String(length=63), nullable=False),
        sa.Column("noted_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("cloud_id"),
    )
