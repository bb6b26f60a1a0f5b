"""Exports and erasures asked of each site, and the outbox of their audit events.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from tenantry.platform.audit.outbox_revision import create_audit_outbox

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create `privacy_requests` and `audit_outbox`."""
    op.create_table(
        "privacy_requests",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("requested_by", sa.String(length=32), nullable=True),
        sa.Column("content", sa.String(length=8), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("stores", sa.JSON(), nullable=False),
        sa.Column("file_id", sa.String(length=32), nullable=True),
        sa.Column("receipt", sa.Text(), nullable=True),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("finished_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "id"),
    )
    create_audit_outbox()
