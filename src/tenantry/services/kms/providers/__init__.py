"""Where root keys live: on this machine, or in AWS KMS (the region's key or a customer's).

The AWS provider (and boto3 with it, tens of MiB) is imported on first use only, so a kms with
no AWS key configured and no customer key never loads it.
"""

from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from tenantry.services.kms.providers.aws_kms import AwsKmsKeyProvider


def __getattr__(name: str) -> Any:
    if name == "AwsKmsKeyProvider":
        from tenantry.services.kms.providers.aws_kms import AwsKmsKeyProvider

        return AwsKmsKeyProvider
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
