"""The tenant catalog and its change feed.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the catalog (one row per site) and the feed of its changes."""
    op.create_table(
        "tenants",
        sa.Column("cloud_id", sa.String(length=36), nullable=False),
        sa.Column("site", sa.String(length=63), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("shard", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("cloud_id"),
        sa.UniqueConstraint("site"),
    )
    op.create_index("ix_tenants_shard", "tenants", ["shard"])
    op.create_table(
        "changes",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("cloud_id", sa.String(length=36), nullable=False),
        sa.Column("site", sa.String(length=63), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
