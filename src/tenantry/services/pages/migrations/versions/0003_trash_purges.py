"""What the trash purge needs: the tenants it must visit, and deletions found by time.

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
    """Create `trash_tenants` (no tenant data: the loop learns there whom to name) and index
    pages by when they went to the trash."""
    op.create_table(
        "trash_tenants",
        sa.Column("cloud_id", sa.String(length=64), nullable=False),
        sa.Column("site", sa.String(length=63), nullable=False),
        sa.Column("noted_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("cloud_id"),
    )
    op.create_index("ix_pages_deleted", "pages", ["tenant_id", "deleted_at"])


def downgrade() -> None:
    """Drop the index and `trash_tenants`."""
    op.drop_index("ix_pages_deleted", table_name="pages")
    op.drop_table("trash_tenants")
