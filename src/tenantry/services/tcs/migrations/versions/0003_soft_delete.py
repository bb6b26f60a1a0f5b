"""Deleting a site is undoable for a grace period: note when it was deleted and from what.

The status `deleted` used to mean purged (its keys destroyed); from now on a deleted site can
still be undeleted, and a purged one is `purged`.

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
    """Add `tenants.deleted_at` and `tenants.status_before_delete`; rename purged sites."""
    op.add_column("tenants", sa.Column("deleted_at", sa.Float(), nullable=True))
    op.add_column("tenants", sa.Column("status_before_delete", sa.String(16), nullable=True))
    tenants = sa.table("tenants", sa.column("status", sa.String))
    op.execute(tenants.update().where(tenants.c.status == "deleted").values(status="purged"))
