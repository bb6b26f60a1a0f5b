"""Accounts: one row per person per site.

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
    """Create the accounts table, one email per site.

    Emails are sealed bytes (AES-256-GCM under the tenant's data key); uniqueness and login
    lookups use `email_index`, their blind index (64 hex digits).
    """
    op.create_table(
        "accounts",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("email", sa.LargeBinary(), nullable=False),
        sa.Column("email_index", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "account_id"),
        sa.UniqueConstraint("tenant_id", "email_index"),
    )
