"""Views per page per day, the viewers of recent days, the ids of views counted, and the
tenants the retention loop visits.

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
    """Create the three tenant-owned tables (every key starts with `tenant_id`) and
    `viewer_tenants`, which names tenants only."""
    op.create_table(
        "page_days",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("page_id", sa.String(length=32), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("space_key", sa.String(length=10), nullable=False),
        sa.Column("views", sa.Integer(), nullable=False),
        sa.Column("unique_viewers", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "page_id", "day"),
    )
    op.create_index("ix_page_days_space", "page_days", ["tenant_id", "space_key", "day"])
    op.create_table(
        "page_viewers",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("page_id", sa.String(length=32), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "page_id", "day", "account_id"),
    )
    op.create_index("ix_page_viewers_day", "page_viewers", ["tenant_id", "day"])
    op.create_table(
        "view_receipts",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("view_id", sa.String(length=32), nullable=False),
        sa.Column("received_day", sa.String(length=10), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "view_id"),
    )
    op.create_index("ix_view_receipts_day", "view_receipts", ["tenant_id", "received_day"])
    op.create_table(
        "viewer_tenants",
        sa.Column("cloud_id", sa.String(length=64), nullable=False),
        sa.Column("site", sa.String(length=63), nullable=False),
        sa.Column("noted_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("cloud_id"),
    )


def downgrade() -> None:
    """Drop the four tables."""
    op.drop_table("viewer_tenants")
    op.drop_table("view_receipts")
    op.drop_table("page_viewers")
    op.drop_table("page_days")
