"""Spaces, pages, their versions and their search terms.

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
    """Create the four tenant-owned tables; every key starts with `tenant_id`.

    Titles and bodies are sealed bytes (AES-256-GCM under the tenant's data key).
    """
    op.create_table(
        "spaces",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "key"),
    )
    op.create_table(
        "pages",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("space_key", sa.String(length=10), nullable=False),
        sa.Column("parent_id", sa.String(length=32), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("title", sa.LargeBinary(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.Float(), nullable=True),
        sa.Column("deleted_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id", "space_key"], ["spaces.tenant_id", "spaces.key"]),
        sa.PrimaryKeyConstraint("tenant_id", "id"),
    )
    op.create_index("ix_pages_tree", "pages", ["tenant_id", "space_key", "parent_id", "position"])
    op.create_table(
        "page_versions",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("page_id", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sa.LargeBinary(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "page_id"], ["pages.tenant_id", "pages.id"], ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "page_id", "version"),
    )
    op.create_table(
        "page_terms",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("page_id", sa.String(length=32), nullable=False),
        sa.Column("term", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "page_id"], ["pages.tenant_id", "pages.id"], ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "page_id", "term"),
    )
    op.create_index("ix_page_terms_term", "page_terms", ["tenant_id", "term"])


def downgrade() -> None:
    """Drop the tables, newest first."""
    op.drop_table("page_terms")
    op.drop_table("page_versions")
    op.drop_index("ix_pages_tree", table_name="pages")
    op.drop_table("pages")
    op.drop_table("spaces")
