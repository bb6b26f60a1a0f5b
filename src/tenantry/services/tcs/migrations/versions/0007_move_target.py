"""Where a site is being moved to, so the services holding its data hand it only there.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add `tenants.move_to_shard`, null for every tenant there is (none is moving)."""
    op.add_column("tenants", sa.Column("move_to_shard", sa.String(32), nullable=True))
