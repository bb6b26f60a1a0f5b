"""The outbox of audit events, written with the changes they record.

Revision ID: 0006
Revises: 0005
"""

from tenantry.platform.audit.outbox_revision import create_audit_outbox

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create `audit_outbox`."""
    create_audit_outbox()
