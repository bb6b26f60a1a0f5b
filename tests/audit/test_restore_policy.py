"""A tenant restore never rolls a site's audit log back: every audit table that holds a tenant's
rows is kept as it is now, so the log still holds what happened, the restore included."""

from __future__ import annotations

from tenantry.cli.tenant_restore import tenant_tables
from tenantry.platform.storage.model import KEEP_LIVE, RESTORE_POLICY
from tenantry.services.audit.models import SCHEMA


def test_every_tenant_table_of_the_audit_log_is_kept_live_by_a_restore() -> None:
    tables = tenant_tables(SCHEMA)
    assert {table.name for table in tables} == {
        "audit_events",
        "audit_nodes",
        "audit_checkpoints",
    }
    assert [t.name for t in tables if t.info.get(RESTORE_POLICY) != KEEP_LIVE] == []
