"""The erasure ledger: every erasure of an account, kept past any restore and replayed by it.

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
    """Create `erasure_ledger`, filled from the erasures already done."""
    op.create_table(
        "erasure_ledger",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("erasure_id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("content", sa.String(length=8), nullable=False),
        sa.Column("erased_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "erasure_id"),
    )
    op.execute(
        "INSERT INTO erasure_ledger (tenant_id, erasure_id, account_id, content, erased_at) "
        "SELECT tenant_id, id, account_id, COALESCE(content, 'keep'), created_at "
        "FROM privacy_requests WHERE kind = 'erasure' AND status = 'done'"
    )
