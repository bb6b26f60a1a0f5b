"""Accounts get an optional display name, sealed like the email.

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
    """Add `accounts.display_name` (sealed bytes; NULL for accounts made without one)."""
    op.add_column("accounts", sa.Column("display_name", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    """Drop `accounts.display_name`."""
    op.drop_column("accounts", "display_name")
