"""A file can be in its owner's trash: kept, but neither listed nor served until restored.

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
    """Add `media_files.trashed`, false for every file there is."""
    op.add_column(
        "media_files",
        sa.Column("trashed", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
