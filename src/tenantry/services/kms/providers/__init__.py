"""Where root keys live: on this machine, or in AWS KMS (the region's key or a customer's)."""

from tenantry.services.kms.providers.aws_kms import AwsKmsKeyProvider
from tenantry.services.kms.providers.local import LocalKeyProvider, LocalKeyStoreError
from tenantry.services.kms.providers.protocol import (
    DATA_KEY_BYTES,
    InvalidKeyRequest,
    KeyProvider,
    KeyProviderError,
    KeyState,
    KeyUnavailable,
    UnwrapFailed,
)

__all__ = [
    "DATA_KEY_BYTES",
    "AwsKmsKeyProvider",
    "InvalidKeyRequest",
    "KeyProvider",
    "KeyProviderError",
    "KeyState",
    "KeyUnavailable",
    "LocalKeyProvider",
    "LocalKeyStoreError",
    "UnwrapFailed",
]
