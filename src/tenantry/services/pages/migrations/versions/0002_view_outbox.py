"""The outbox of page views waiting for analytics.

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
    """Create `view_outbox`: it names its tenant in `cloud_id` (as an audit outbox does), so the
    loop delivering it sees every tenant's rows."""
    op.create_table(
        "view_outbox",
        sa.Column("outbox_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("cloud_id", sa.String(length=64), nullable=False),
        sa.Column("view_id", sa.String(length=32), nullable=False),
        sa.Column("page_id", sa.String(length=32), nullable=False),
        sa.Column("space_key", sa.String(length=10), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("viewed_at", sa.Float(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("outbox_id"),
    )
    op.create_index("ix_view_outbox_due", "view_outbox", ["next_attempt_at"])


def downgrade() -> None:
    """Drop `view_outbox`."""
    op.drop_index("ix_view_outbox_due", table_name="view_outbox")
    op.drop_table("view_outbox")
