"""A deleted account is kept, deactivated, until its grace period ends: when it was deleted,
and the erasures still to do.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add `accounts.deleted_at`; create `account_erasures`."""
    op.add_column("accounts", sa.Column("deleted_at", sa.Float(), nullable=True))
    op.create_table(
        "account_erasures",
        sa.Column("cloud_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("erase_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("cloud_id", "account_id"),
    )
    op.create_index("ix_account_erasures_erase_at", "account_erasures", ["erase_at"])
