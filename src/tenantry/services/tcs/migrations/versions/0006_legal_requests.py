"""The transparency register: government and legal requests for customer data.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create `legal_requests`, empty."""
    op.create_table(
        "legal_requests",
        sa.Column("request_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("jurisdiction", sa.String(length=2), nullable=False),
        sa.Column("request_type", sa.String(length=24), nullable=False),
        sa.Column("reference", sa.String(length=128), nullable=True),
        sa.Column("sites", sa.Text(), nullable=False),
        sa.Column("accounts_named", sa.Text(), nullable=False),
        sa.Column("received", sa.String(length=10), nullable=False),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("disclosure", sa.String(length=16), nullable=True),
        sa.Column("notice_sent", sa.String(length=10), nullable=True),
        sa.Column("notice_withheld_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("request_id"),
    )
    op.create_index("ix_legal_requests_received", "legal_requests", ["received"])
