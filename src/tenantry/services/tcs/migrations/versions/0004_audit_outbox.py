"""The outbox of status changes, written with the changes they record.

Revision ID: 0004
Revises: 0003
"""

from tenantry.platform.audit.outbox_revision import create_audit_outbox

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create `audit_outbox`."""
    create_audit_outbox()
