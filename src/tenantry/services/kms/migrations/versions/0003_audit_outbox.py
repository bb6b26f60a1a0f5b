"""The outbox of tenants' key events, written with the changes they record.

Revision ID: 0003
Revises: 0002
"""

from tenantry.platform.audit.outbox_revision import create_audit_outbox

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create `audit_outbox`."""
    create_audit_outbox()
