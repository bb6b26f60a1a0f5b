"""Root keys in AWS KMS: the region's own key, or a customer's key (BYOK) that they can disable or
revoke, which must make their tenant's data unavailable with a clear reason, quickly.

Key refs are whatever KMS accepts as a `KeyId` (key ARN, key id, alias name or alias ARN); the
context is sent as the KMS `EncryptionContext`, which KMS binds to the ciphertext.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    NoCredentialsError,
    ParamValidationError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from tenantry.services.kms.providers.protocol import (
    DATA_KEY_BYTES,
    InvalidKeyRequest,
    KeyProviderError,
    KeyState,
    KeyUnavailable,
    UnwrapFailed,
    check_context,
    check_data_key,
)

# KMS error codes and what they mean for a caller; anything else is a plain KeyProviderError.
_UNAVAILABLE = {
    "DisabledException": "key_disabled",
    "KMSInvalidStateException": "key_disabled",
    "NotFoundException": "key_not_found",
    "AccessDeniedException": "access_denied",
    "UnrecognizedClientException": "access_denied",
    "InvalidSignatureException": "access_denied",
    "ExpiredTokenException": "access_denied",
    "KeyUnavailableException": "provider_unreachable",
    "DependencyTimeoutException": "provider_unreachable",
    "KMSInternalException": "provider_unreachable",
    "ThrottlingException": "provider_unreachable",
}
_MISMATCH = {"InvalidCiphertextException", "IncorrectKeyException"}
_STATES = {
    "Enabled": KeyState.ENABLED,
    "Disabled": KeyState.DISABLED,
    "PendingDeletion": KeyState.PENDING_DELETION,
    "PendingReplicaDeletion": KeyState.PENDING_DELETION,
}


class AwsKmsKeyProvider:
    """Wraps data keys with KMS `Encrypt`/`Decrypt` under a symmetric KMS key.

    Timeouts are short and retries few, so an unreachable KMS or a revoked key surfaces in
    seconds rather than stalling the requests that need the tenant's data.
    """

    def __init__(
        self,
        region: str,
        *,
        endpoint_url: str | None = None,
        client: Any | None = None,
        connect_timeout: float = 2.0,
        read_timeout: float = 5.0,
        max_attempts: int = 2,
    ) -> None:
        if client is None:
            config = Config(
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                retries={"mode": "standard", "total_max_attempts": max_attempts},
            )
            # A session of our own: boto3's default session is shared and not thread-safe.
            client = boto3.session.Session().client(
                "kms", region_name=region, endpoint_url=endpoint_url, config=config
            )
        self._client = client

    def wrap(self, key_ref: str, plaintext: bytes, context: Mapping[str, str]) -> bytes:
        """Encrypt a data key under the KMS key `key_ref` with `context` as EncryptionContext."""
        check_data_key(plaintext)
        encryption_context = check_context(context)
        try:
            response = self._client.encrypt(
                KeyId=key_ref, Plaintext=plaintext, EncryptionContext=encryption_context
            )
        except (ClientError, BotoCoreError) as exc:
            _raise_for(exc, key_ref)
        return bytes(response["CiphertextBlob"])

    def unwrap(self, key_ref: str, wrapped: bytes, context: Mapping[str, str]) -> bytes:
        """Decrypt a wrapped data key, insisting it was made under `key_ref` with `context`."""
        encryption_context = check_context(context)
        if not isinstance(wrapped, bytes) or not wrapped:
            raise UnwrapFailed("the wrapped key is empty or not bytes")
        try:
            response = self._client.decrypt(
                KeyId=key_ref, CiphertextBlob=wrapped, EncryptionContext=encryption_context
            )
        except (ClientError, BotoCoreError) as exc:
            _raise_for(exc, key_ref)
        plaintext = bytes(response["Plaintext"])
        if len(plaintext) != DATA_KEY_BYTES:
            raise UnwrapFailed(f"what {key_ref} decrypted is not a data key")
        return plaintext

    def describe(self, key_ref: str) -> KeyState:
        """Ask KMS for the key's state; a key KMS does not know (or no longer has) is MISSING."""
        try:
            metadata = self._client.describe_key(KeyId=key_ref)["KeyMetadata"]
        except ClientError as exc:
            if _code(exc) == "NotFoundException":
                return KeyState.MISSING
            _raise_for(exc, key_ref)
        except BotoCoreError as exc:
            _raise_for(exc, key_ref)
        return _STATES.get(str(metadata.get("KeyState")), KeyState.UNAVAILABLE)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _raise_for(exc: ClientError | BotoCoreError, key_ref: str) -> NoReturn:
    """Turn a boto error into the provider's typed errors; the original stays as the cause."""
    if isinstance(exc, ClientError):
        code = _code(exc)
        if code in _MISMATCH:
            raise UnwrapFailed(f"KMS refused the wrapped key or context for {key_ref} ({code})")
        if code in _UNAVAILABLE:
            reason = _UNAVAILABLE[code]
            raise KeyUnavailable(reason, f"KMS key {key_ref}: {reason} ({code})") from exc
        raise KeyProviderError("provider_error", f"KMS error for {key_ref} ({code})") from exc
    if isinstance(exc, BotoConnectionError | HTTPClientError):
        raise KeyUnavailable(
            "provider_unreachable", f"KMS could not be reached for {key_ref} ({type(exc).__name__})"
        ) from exc
    if isinstance(exc, NoCredentialsError):
        raise KeyUnavailable("access_denied", "no AWS credentials are configured") from exc
    if isinstance(exc, ParamValidationError):
        # Not chained: botocore's message may quote the offending parameter value.
        raise InvalidKeyRequest(
            "invalid_request", f"the KMS request for {key_ref!r} was malformed"
        ) from None
    raise KeyProviderError("provider_error", f"KMS call failed ({type(exc).__name__})") from exc
