"""Customer-managed keys (BYOK): which tenants' data keys a customer's AWS KMS key wraps.

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
    """Create `customer_keys` (a plain table: one row per BYOK tenant, no key bytes)."""
    op.create_table(
        "customer_keys",
        sa.Column("cloud_id", sa.String(length=64), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("shard", sa.String(length=32), nullable=False),
        sa.Column("key_ref", sa.String(length=2048), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("cloud_id"),
    )
    op.create_index("ix_customer_keys_region", "customer_keys", ["region"])
