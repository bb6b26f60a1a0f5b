"""The outbox of account changes kms must hear of (owner role changed, owner removed).

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
    """Create `kms_notices`: one row per change and region until that region's kms answers."""
    op.create_table(
        "kms_notices",
        sa.Column("notice_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("change", sa.String(length=16), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("notice_id"),
    )
