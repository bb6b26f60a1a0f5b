"""The `audit_outbox` table as a revision creates it, so every service's revision is one call."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


def create_audit_outbox() -> None:
    """Create the `audit_outbox` table of `AuditOutboxColumns` (inside a service's revision)."""
    op.create_table(
        "audit_outbox",
        sa.Column("outbox_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("cloud_id", sa.String(length=64), nullable=False),
        sa.Column("event", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("outbox_id"),
    )
