"""Sealed text columns: how a service stores a tenant's sensitive strings, and reads them back.

A sealed value is AES-256-GCM under the tenant's data key, bound to the tenant, table, row and
column it was written for (`tenantry.platform.crypto`). A value that does not open where it is
read (copied from another row, column or tenant, or altered) is a security event and a 500
`ciphertext_rejected` for the request: never a wrong answer, never another tenant's text.
"""

from __future__ import annotations

from tenantry.platform.context import require_tenant
from tenantry.platform.crypto import CiphertextRejected, decrypt_field, encrypt_field, key_version
from tenantry.platform.data_keys import TenantKeys
from tenantry.platform.errors import ApiError
from tenantry.platform.logs import security_event


def seal_text(keys: TenantKeys, table: str, row: str, column: str, text: str) -> bytes:
    """Encrypt `text` for one column of one row of the current tenant, under the current key."""
    return encrypt_field(
        keys.current,
        text.encode(),
        tenant_id=require_tenant().cloud_id,
        table=table,
        row=row,
        column=column,
    )


def open_text(keys: TenantKeys, table: str, row: str, column: str, sealed: bytes) -> str:
    """Decrypt a sealed column value of the current tenant; refuse one that does not belong."""
    tenant_id = require_tenant().cloud_id
    try:
        key = keys(key_version(sealed))  # may raise KeyVersionNeeded, for DataKeys.run to fetch
        plaintext = decrypt_field(
            lambda _version: key,
            sealed,
            tenant_id=tenant_id,
            table=table,
            row=row,
            column=column,
        )
    except CiphertextRejected as exc:
        security_event(
            "ciphertext_rejected", tenant_id=tenant_id, table=table, column=column, why=exc.reason
        )
        raise ApiError(
            500, "ciphertext_rejected", "stored data failed its integrity check"
        ) from None
    return plaintext.decode()
