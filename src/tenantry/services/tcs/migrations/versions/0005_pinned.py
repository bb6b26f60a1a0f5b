"""Whether a site was pinned to its region at sign-up (a move out of it needs `--unpin`).

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
    """Add `tenants.pinned`, false for every tenant there is (none recorded a pin before)."""
    op.add_column(
        "tenants",
        sa.Column("pinned", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
