"""Every site's trash: deleted issues and comments stay, marked, until the trash is purged.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add `deleted_at` to issues and comments; create `trash_items` and `trash_tenants`."""
    op.add_column("issues", sa.Column("deleted_at", sa.Float(), nullable=True))
    op.add_column("comments", sa.Column("deleted_at", sa.Float(), nullable=True))
    op.create_table(
        "trash_items",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("issue_id", sa.String(length=32), nullable=False),
        sa.Column("issue_key", sa.String(length=32), nullable=False),
        sa.Column("item_id", sa.String(length=32), nullable=False),
        sa.Column("title", sa.LargeBinary(), nullable=False),
        sa.Column("deleted_at", sa.Float(), nullable=False),
        sa.Column("deleted_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id"),
    )
    op.create_index("ix_trash_items_deleted", "trash_items", ["tenant_id", "deleted_at", "id"])
    op.create_table(
        "trash_tenants",
        sa.Column("cloud_id", sa.String(length=64), nullable=False),
        sa.Column("site", sa.String(length=63), nullable=False),
        sa.Column("noted_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("cloud_id"),
    )
