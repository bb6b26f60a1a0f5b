"""Who uploaded each file and each upload under way, so a person's export and erasure find
the files they uploaded.

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
    """Add `uploaded_by` to `media_files` and `media_uploads` (None for files already kept)."""
    for table in ("media_files", "media_uploads"):
        op.add_column(table, sa.Column("uploaded_by", sa.String(32), nullable=True))
