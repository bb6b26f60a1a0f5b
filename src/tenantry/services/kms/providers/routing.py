"""Send each wrapped data key to the provider its key ref names: the region's root key provider,
or AWS KMS for a customer's key (BYOK), so one tenant's keys can move between the two online.

Customer keys are AWS KMS key ARNs; the KMS region is the one the ARN names. Where KMS is reached
comes from kms's environment: `TENANTRY_CUSTOMER_KMS_ENDPOINT` (an endpoint URL, for a private
endpoint or a test server), else boto3's own resolution; credentials come from boto3's usual
chain (environment, profile, instance role).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Mapping

from tenantry.services.kms.providers.protocol import InvalidKeyRequest, KeyProvider, KeyState

ENDPOINT_VARIABLE = "TENANTRY_CUSTOMER_KMS_ENDPOINT"
_KEY_ARN = re.compile(
    r"^arn:aws(?:-[a-z]+)*:kms:(?P<region>[a-z]{2}(?:-[a-z]+)+-\d):\d{12}:"
    r"(?:key/[0-9a-fA-F-]{1,128}|alias/[A-Za-z0-9/_-]{1,250})$"
)


def customer_key_region(key_ref: str) -> str:
    """The AWS region of a customer key ARN; InvalidKeyRequest for anything else."""
    match = _KEY_ARN.match(key_ref) if isinstance(key_ref, str) else None
    if match is None:
        raise InvalidKeyRequest(
            "invalid_key_arn",
            "a customer key is an AWS KMS key or alias ARN "
            "(arn:aws:kms:<region>:<account>:key/<id>)",
        )
    return match["region"]


def is_customer_key(key_ref: str) -> bool:
    """True for refs that name a customer's AWS KMS key rather than a root key."""
    return key_ref.startswith("arn:")


def customer_kms(region: str) -> KeyProvider:
    """An AWS KMS client for customer keys of `region`, reached as kms's environment says."""
    from tenantry.services.kms.providers.aws_kms import AwsKmsKeyProvider  # boto3: on first use

    return AwsKmsKeyProvider(region, endpoint_url=os.environ.get(ENDPOINT_VARIABLE) or None)


class KeyProviders:
    """A `KeyProvider` that hands root key refs to `root` and customer ARNs to AWS KMS."""

    def __init__(
        self, root: KeyProvider, customer: Callable[[str], KeyProvider] = customer_kms
    ) -> None:
        self._root = root
        self._customer = customer
        self._by_region: dict[str, KeyProvider] = {}
        self._lock = threading.Lock()

    def wrap(self, key_ref: str, plaintext: bytes, context: Mapping[str, str]) -> bytes:
        """Encrypt a data key under whichever provider holds `key_ref`."""
        return self._for(key_ref).wrap(key_ref, plaintext, context)

    def unwrap(self, key_ref: str, wrapped: bytes, context: Mapping[str, str]) -> bytes:
        """Decrypt a data key with whichever provider holds `key_ref`."""
        return self._for(key_ref).unwrap(key_ref, wrapped, context)

    def describe(self, key_ref: str) -> KeyState:
        """Whether `key_ref` is usable, asked of whichever provider holds it."""
        return self._for(key_ref).describe(key_ref)

    def _for(self, key_ref: str) -> KeyProvider:
        if not is_customer_key(key_ref):
            return self._root
        region = customer_key_region(key_ref)
        with self._lock:
            provider = self._by_region.get(region)
            if provider is None:
                provider = self._by_region[region] = self._customer(region)
        return provider
