"""Blind indexes: find a row by a sealed value (an email, say) without storing the value.

A sealed column cannot be searched: every sealing uses a fresh nonce. Beside it a service stores
HMAC-SHA256 of the (normalised) value under a per-tenant index key, and looks rows up by that.

The index key is derived (HKDF-SHA256, one `purpose` per column) from the tenant's data key of
version 1, always, so rotating the data key never breaks lookups. Once version 1 is retired
kms no longer hands it out, but derives and serves the index keys itself
(`GET /internal/kms/index-key/{purpose}`), so lookups keep working and nothing sealed under
version 1 can be opened with what a service holds. The price of that:
- the index key does not rotate with the data keys; rotation re-seals values but leaves their
  index as it was;
- someone holding the database and the tenant's version-1 data key can confirm guesses (is
  alice@example.com an account here?), though never read a value back from its index;
- an index reveals which rows hold equal values, within one tenant and purpose only.
Destroying a tenant's keys makes its indexes meaningless too, as it does its sealed values.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from cryptography.hazmat.primitives import hashes, hmac

from tenantry.platform.client import ServiceClient, ServiceResponse
from tenantry.platform.crypto.index_keys import INDEX_KEY_VERSION, index_key
from tenantry.platform.data_keys import AskKms, IndexKeyNeeded, TenantKeys


def blind_index(keys: TenantKeys, purpose: bytes, value: str) -> str:
    """The current tenant's index of `value` for `purpose`, as 64 hex digits.

    The caller normalises `value` first (equal values must be equal strings). Raises
    `IndexKeyNeeded` when neither the index key nor version 1 is held, for `DataKeys.run` to
    fetch the index key from kms (which derives it the same way, retired version 1 or not).
    """
    mac = hmac.HMAC(_index_key_of(keys, purpose), hashes.SHA256())
    mac.update(value.encode())
    return mac.finalize().hex()


def _index_key_of(keys: TenantKeys, purpose: bytes) -> bytes:
    fetched = keys.index_keys.get(purpose)
    if fetched is not None:
        return fetched
    first = keys.held.get(INDEX_KEY_VERSION)
    if first is not None:
        return index_key(first, purpose)
    raise IndexKeyNeeded(purpose, INDEX_KEY_VERSION, _asking_kms_for(purpose))


def _asking_kms_for(purpose: bytes) -> AskKms:
    """How `DataKeys.run` asks kms for the index key of `purpose`."""

    def ask(client: ServiceClient, call_args: dict[str, Any]) -> Awaitable[ServiceResponse]:
        return client.call(
            "kms",
            "GET",
            "/internal/kms/index-key/{purpose}",
            params={"purpose": purpose.hex()},
            **call_args,
        )

    return ask
