"""The contract every root-key provider meets, so the key service can wrap tenant data keys under
a local root key or an AWS KMS key (the region's own, or a customer's) without knowing which."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Protocol

# Tenant data keys are AES-256 keys; providers wrap nothing else.
DATA_KEY_BYTES = 32


class KeyState(enum.Enum):
    """Whether a root key can be used now, as a health check or revocation probe reports it."""

    ENABLED = "enabled"
    DISABLED = "disabled"
    PENDING_DELETION = "pending_deletion"
    # The provider knows the key but cannot use it for another reason (e.g. no key material yet).
    UNAVAILABLE = "unavailable"
    MISSING = "missing"


class KeyProviderError(Exception):
    """Why a provider refused a request, as a machine-readable `reason` and a message.

    Messages name keys by reference only; they never carry key bytes.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


class KeyUnavailable(KeyProviderError):
    """The root key exists but cannot be used now, or cannot be reached.

    `reason` is one of "key_disabled", "key_not_found", "access_denied", "provider_unreachable".
    """


class UnwrapFailed(KeyProviderError):
    """The wrapped bytes or the context do not match; `reason` is "authentication_failed"."""

    def __init__(self, message: str) -> None:
        super().__init__("authentication_failed", message)


class InvalidKeyRequest(KeyProviderError):
    """The caller asked for something malformed: a bad key ref, data key or context."""


class KeyProvider(Protocol):
    """Wraps and unwraps tenant data keys under a root key named by an opaque `key_ref`."""

    def wrap(self, key_ref: str, plaintext: bytes, context: Mapping[str, str]) -> bytes:
        """Encrypt a 32-byte data key under `key_ref`, binding `context` as associated data."""
        ...

    def unwrap(self, key_ref: str, wrapped: bytes, context: Mapping[str, str]) -> bytes:
        """Return the data key inside `wrapped`; refuse if `wrapped` or `context` was altered."""
        ...

    def describe(self, key_ref: str) -> KeyState:
        """Report whether `key_ref` is usable; raise KeyUnavailable only if it cannot be asked."""
        ...


def check_data_key(plaintext: bytes) -> None:
    """Refuse anything but a 32-byte data key (without echoing its bytes)."""
    if not isinstance(plaintext, bytes) or len(plaintext) != DATA_KEY_BYTES:
        raise InvalidKeyRequest("invalid_data_key", f"a data key is exactly {DATA_KEY_BYTES} bytes")


def check_context(context: Mapping[str, str]) -> dict[str, str]:
    """Return `context` as a plain dict, refusing empty contexts and non-string entries.

    An empty context would let a wrapped key be swapped between tenants unnoticed.
    """
    if not isinstance(context, Mapping) or not context:
        raise InvalidKeyRequest("invalid_context", "the context must be a non-empty mapping")
    for name, value in context.items():
        if not isinstance(name, str) or not isinstance(value, str) or not name:
            raise InvalidKeyRequest(
                "invalid_context", "context names must be non-empty strings and values strings"
            )
    return dict(context)
