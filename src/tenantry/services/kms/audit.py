"""The audit trail of key operations: which key event happened to which tenant and versions.

Lines name tenants, versions and key refs, never key bytes, wrapped or not.
"""

from __future__ import annotations

import structlog

audit_log = structlog.get_logger("tenantry.audit")


def key_event(action: str, **fields: object) -> None:
    """Record one key operation (`data_key_created`, `root_key_created`, `data_keys_rewrapped`).

    Each becomes one JSON line with `"event": "audit"` in the kms process's log, which
    `tenantry keys audit` reads. Bytes are refused outright, so no key can slip into the log.
    """
    if any(isinstance(value, bytes | bytearray | memoryview) for value in fields.values()):
        raise TypeError(f"audit event {action!r}: bytes may not be logged")
    audit_log.info("audit", action=action, **fields)
