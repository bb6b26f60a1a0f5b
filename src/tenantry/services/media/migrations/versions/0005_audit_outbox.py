"""The outbox of tenants' media events (settings changed), written with the changes they record.

Revision ID: 0005
Revises: 0004
"""

from tenantry.platform.audit.outbox_revision import create_audit_outbox

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create `audit_outbox`."""
    create_audit_outbox()
