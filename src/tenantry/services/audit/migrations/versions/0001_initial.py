"""The audit log: entries, tree nodes, checkpoints and tree sizes.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the four audit tables."""
    op.create_table(
        "audit_events",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("leaf_index", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("entry", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "leaf_index"),
        sa.UniqueConstraint("tenant_id", "event_id"),
    )
    op.create_table(
        "audit_nodes",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("node_key", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "node_key"),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("tree_size", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("signed_at", sa.Float(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "tree_size"),
    )
    op.create_table(
        "audit_trees",
        sa.Column("cloud_id", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("signed_size", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("cloud_id"),
    )
