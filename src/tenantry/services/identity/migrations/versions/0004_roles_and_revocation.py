"""Roles admin, member and viewer; deactivated accounts; revoked tokens; the account feed.

The role every non-admin had, `user`, is now called `member` (in accounts and in notices still
waiting for kms).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add `accounts.active` and `accounts.token_generation`, `revoked_tokens` and
    `account_changes`, and rename the role `user` to `member`."""
    op.add_column(
        "accounts", sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False)
    )
    op.add_column(
        "accounts",
        sa.Column("token_generation", sa.Integer(), server_default="0", nullable=False),
    )
    op.create_table(
        "revoked_tokens",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("token_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "token_id"),
    )
    op.create_index("ix_revoked_tokens_account", "revoked_tokens", ["tenant_id", "account_id"])
    op.create_table(
        "account_changes",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("cloud_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        # The forced tenant policy hides every row from a statement that names no tenant, the
        # owner's too; this one renames a role in all of them. Migration forces it again after.
        op.execute("ALTER TABLE accounts NO FORCE ROW LEVEL SECURITY")
    op.execute("UPDATE accounts SET role = 'member' WHERE role = 'user'")
    op.execute("UPDATE kms_notices SET role = 'member' WHERE role = 'user'")
    if postgres:
        op.execute("ALTER TABLE accounts FORCE ROW LEVEL SECURITY")
