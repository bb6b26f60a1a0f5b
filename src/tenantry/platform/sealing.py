"""Sealed text columns: how a service stores a tenant's sensitive strings, and reads them back.

A sealed value is AES-256-GCM under the tenant's data key, bound to the tenant, table, row and
column it was written for (`tenantry.platform.crypto`). A value that does not open where it is
read (copied from another row, column or tenant, or altered) is a security event and a 500
`ciphertext_rejected` for the request: never a wrong answer, never another tenant's text.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tenantry.platform.context import require_tenant
from tenantry.platform.crypto import (
    CiphertextRejected,
    DataKey,
    FieldColumn,
    decrypt_field,
    encrypt_field,
    key_version,
    reseal_fields,
)
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
    with _refused(tenant_id, table, column):
        key = keys(key_version(sealed))  # may raise KeyVersionNeeded, for DataKeys.run to fetch
        plaintext = decrypt_field(
            lambda _version: key,
            sealed,
            tenant_id=tenant_id,
            table=table,
            row=row,
            column=column,
        )
    return plaintext.decode()


def reseal_texts(
    keys: TenantKeys, table: str, column: str, cells: list[tuple[str, bytes]]
) -> list[bytes]:
    """Reseal one column's `(row, sealed)` values under the current key, all or none.

    For a data key rotation. Every older key is taken from `keys` first, so one not yet held
    raises KeyVersionNeeded for `DataKeys.run` to fetch; a value that does not open is refused
    as `open_text` refuses it.
    """
    if not cells:
        return []
    tenant_id = require_tenant().cloud_id
    with _refused(tenant_id, table, column):
        held: dict[int, DataKey] = {}
        for _, sealed in cells:
            version = key_version(sealed)
            if version not in held:
                held[version] = keys(version)
        return reseal_fields(
            held.__getitem__, keys.current, FieldColumn(tenant_id, table, column), cells
        )


@contextmanager
def _refused(tenant_id: str, table: str, column: str) -> Iterator[None]:
    """Turn a value that does not open into a security event and a 500 `ciphertext_rejected`."""
    try:
        yield
    except CiphertextRejected as exc:
        security_event(
            "ciphertext_rejected", tenant_id=tenant_id, table=table, column=column, why=exc.reason
        )
        raise ApiError(
            500, "ciphertext_rejected", "stored data failed its integrity check"
        ) from None
