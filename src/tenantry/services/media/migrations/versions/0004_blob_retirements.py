"""Blob trees whose rows are gone, kept until backups no longer reach back to them.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create `blob_retirements` (names tenants and blob ids only)."""
    op.create_table(
        "blob_retirements",
        sa.Column("cloud_id", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=64), nullable=False),
        sa.Column("due_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("cloud_id", "prefix"),
    )
    op.create_index("ix_blob_retirements_due_at", "blob_retirements", ["due_at"])
