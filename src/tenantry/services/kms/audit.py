"""The audit trail of key operations: which key event happened to which tenant and versions.

A tenant's key events go to the tenant's audit log, through kms's outbox, in the same
transaction as the change: on the tenant's shard for its data keys (`record`), on kms's global
database for its own key's record (`record_on`: switched on or off, found revoked or working).
Region-wide ones (root keys and their owners) stay lines of the kms log (`key_event`). Both
name tenants, versions and key refs, never key bytes: the audit event rule refuses bytes and
fields named like secrets.
"""

from __future__ import annotations

import structlog
from sqlalchemy import Connection

from tenantry.platform.audit.events import AuditEvent, current_actor, refuse_secrets
from tenantry.platform.audit.outbox import AuditOutbox
from tenantry.platform.context import require_tenant
from tenantry.platform.storage.tenant_session import TenantSession

audit_log = structlog.get_logger("tenantry.audit")


def key_event(action: str, **fields: object) -> None:
    """Record one region-wide key operation (`root_key_created`, `root_key_rotated`, ...) as a
    JSON line with `"event": "audit"` in the kms process's log. Bytes are refused outright."""
    refuse_secrets(action, dict(fields))
    audit_log.info("audit", action=action, **fields)


class TenantKeyEvents:
    """Records a tenant's key events in its audit log (and, for operators, the kms log)."""

    def __init__(self, outbox: AuditOutbox | None) -> None:
        self.outbox = outbox
        """None where no audit service is reached (unit tests of kms alone)."""

    def record(self, session: TenantSession, action: str, **fields: object) -> None:
        """Add the event of `action` on the current tenant's keys to `session`'s transaction."""
        tenant = require_tenant()
        key_event(action, tenant_id=tenant.cloud_id, **fields)
        if self.outbox is not None:
            event = AuditEvent(action, "data_keys", current_actor("kms"), detail=dict(fields))
            self.outbox.record(session, event)

    def record_on(
        self, connection: Connection, cloud_id: str, action: str, **fields: object
    ) -> None:
        """Add the event of `action` on tenant `cloud_id`'s keys to the transaction
        `connection` is in (kms's global database, where the tenants' own keys are recorded)."""
        key_event(action, tenant_id=cloud_id, **fields)
        if self.outbox is not None:
            event = AuditEvent(action, "data_keys", current_actor("kms"), detail=dict(fields))
            self.outbox.record_on(connection, cloud_id, event)

    def wake(self) -> None:
        """Deliver what was recorded now (after the transaction committed)."""
        if self.outbox is not None:
            self.outbox.wake()
