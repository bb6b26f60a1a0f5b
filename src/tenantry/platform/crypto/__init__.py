"""Encryption at rest for every tenantry service: sealed fields and sealed blob streams.

Keys come from the caller (`DataKey`); this package does no I/O and keeps no keys. Fields are
bound to their tenant, table, row and column (`FieldColumn` and `reseal_fields` for many rows of
one column at a time); streams to their tenant, collection and object.
Stored bytes that fail any check raise `CiphertextRejected` with a machine-readable `reason`;
bad arguments raise `EncryptionError` (a ValueError), also with a `reason`.
"""

from __future__ import annotations

from tenantry.platform.crypto.errors import (
    CiphertextRejected,
    EncryptionError,
    InputReason,
    RejectReason,
)
from tenantry.platform.crypto.fields import (
    FORMAT_VERSION,
    DataKey,
    FieldColumn,
    KeyLookup,
    decrypt_field,
    encrypt_field,
    key_version,
    reseal_field,
    reseal_fields,
)
from tenantry.platform.crypto.stream import (
    DEFAULT_FRAME_SIZE,
    HEADER_SIZE,
    MAX_FRAME_SIZE,
    MIN_FRAME_SIZE,
    STREAM_FORMAT_VERSION,
    decrypt_stream,
    encrypt_stream,
    encrypted_size,
    stream_key_version,
)

__all__ = [
    "DEFAULT_FRAME_SIZE",
    "FORMAT_VERSION",
    "HEADER_SIZE",
    "MAX_FRAME_SIZE",
    "MIN_FRAME_SIZE",
    "STREAM_FORMAT_VERSION",
    "CiphertextRejected",
    "DataKey",
    "EncryptionError",
    "FieldColumn",
    "InputReason",
    "KeyLookup",
    "RejectReason",
    "decrypt_field",
    "decrypt_stream",
    "encrypt_field",
    "encrypt_stream",
    "encrypted_size",
    "key_version",
    "reseal_field",
    "reseal_fields",
    "stream_key_version",
]
