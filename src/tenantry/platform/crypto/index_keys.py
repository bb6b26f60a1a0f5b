"""Blind index keys: derived from a tenant's data key, one per purpose (a column's own label).

Kept apart from `tenantry.platform.blind_index`, which fetches index keys for services, because
kms derives the same keys itself and must not look like a caller of its own route.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tenantry.platform.crypto.fields import DataKey

INDEX_KEY_VERSION = 1
"""The data key version every index key derives from, whatever the current version is."""
INDEX_KEY_SIZE = 32


def index_key(key: DataKey, purpose: bytes) -> bytes:
    """The index key of one `purpose`, derived from `key` with HKDF-SHA256."""
    return HKDF(algorithm=hashes.SHA256(), length=INDEX_KEY_SIZE, salt=None, info=purpose).derive(
        key.material
    )
