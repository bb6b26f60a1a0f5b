"""The audit trail of key operations: which key event happened to which tenant and versions.

Lines name tenants, versions and key refs, never key bytes, wrapped or not.
"""

from __future__ import annotations

import structlog

audit_log = structlog.get_logger("tenantry.audit")


def key_event(action: str, **fields: object) -> None:
    """Record one key operation (`data_key_created`, `root_key_created`, `data_keys_rewrapped`)."""
    audit_log.info("audit", action=action, **fields)
