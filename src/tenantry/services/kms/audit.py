"""The audit trail of key operations: which key event happened to which tenant and versions.

A tenant's key events go to the tenant's audit log, through kms's outbox, in the same
transaction as the change (`tenant_key_event`); region-wide ones (root keys and their owners)
stay lines of the kms log (`key_event`). Both name tenants, versions and key refs, never key
bytes: the audit event rule refuses bytes and fields named like secrets.
"""

from __future__ import annotations

import structlog

from tenantry.platform.audit.events import AuditEvent, current_actor, refuse_secrets
from tenantry.platform.audit.outbox import AuditOutbox
from tenantry.platform.context import TenantContext, require_tenant, tenant_scope
from tenantry.platform.storage.databases import Databases
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

    def wake(self) -> None:
        """Deliver what was recorded now (after the transaction committed)."""
        if self.outbox is not None:
            self.outbox.wake()


class KeyAvailabilityEvents:
    """Records that a tenant's own key stopped or started working, found by the key watch
    outside any request, in the tenant's audit log."""

    def __init__(self, databases: Databases, events: TenantKeyEvents) -> None:
        self._databases = databases
        self._events = events

    def record(self, cloud_id: str, region: str, shard: str, action: str, **fields: object) -> None:
        """Record `action` for the tenant `cloud_id` homed on `shard` of `region`."""
        # Only the id and the shard matter to storage and to the outbox.
        tenant = TenantContext(cloud_id, "", region, shard, "active")
        with tenant_scope(tenant), self._databases.session() as session:
            self._events.record(session, action, **fields)
        self._events.wake()
