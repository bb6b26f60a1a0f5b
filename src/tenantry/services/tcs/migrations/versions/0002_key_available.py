"""Whether each tenant's own key (BYOK) is available, apart from its status.

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
    """Add `tenants.key_available`, true for every tenant there is."""
    op.add_column(
        "tenants",
        sa.Column("key_available", sa.Boolean(), nullable=False, server_default=sa.true()),
    )
