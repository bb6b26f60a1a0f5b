"""What the key service's routes accept and answer; anything else is refused before it acts."""

from __future__ import annotations

import base64
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from tenantry.platform.crypto import DataKey
from tenantry.platform.crypto.fields import MAX_KEY_VERSION

MAX_AGE_SECONDS = 300
"""How long a caller may keep a data key in memory before asking again."""
CUSTOMER_KEY_MAX_AGE_SECONDS = 30
"""The same for a tenant under its own key (BYOK): a caller holding a tenant context signed
before the customer revoked the key can use a held key this long at most, then kms refuses."""

AccountId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^\S+$")]


class DataKeyOut(BaseModel):
    """A tenant's data key in the clear: for callers inside the cloud only, never cached."""

    version: int
    key: str
    max_age: int = MAX_AGE_SECONDS

    @classmethod
    def of(cls, key: DataKey, max_age: int = MAX_AGE_SECONDS) -> DataKeyOut:
        """The answer for `key`, its material in standard base64."""
        return cls(
            version=key.version,
            key=base64.b64encode(key.material).decode("ascii"),
            max_age=max_age,
        )


class RotateRequest(BaseModel):
    """Who owns the new root key version (an account id), or nobody."""

    model_config = ConfigDict(extra="forbid", strict=True)

    owner: AccountId | None = None


class ByokRequest(BaseModel):
    """The customer's AWS KMS key (a key or alias ARN) to wrap the tenant's data keys under."""

    model_config = ConfigDict(extra="forbid", strict=True)

    aws_kms_key: Annotated[str, StringConstraints(min_length=1, max_length=2048)]


class RetireRequest(BaseModel):
    """The tenant's new minimum decryption version: every version below it is retired."""

    model_config = ConfigDict(extra="forbid", strict=True)

    below: Annotated[int, Field(ge=1, le=MAX_KEY_VERSION)]


class IndexKeyOut(BaseModel):
    """A tenant's blind index key for one purpose: for callers inside the cloud only."""

    key: str
    max_age: int = MAX_AGE_SECONDS

    @classmethod
    def of(cls, material: bytes, max_age: int = MAX_AGE_SECONDS) -> IndexKeyOut:
        """The answer for `material`, in standard base64."""
        return cls(key=base64.b64encode(material).decode("ascii"), max_age=max_age)


class PassphraseOut(BaseModel):
    """The region's backup repository passphrase in the clear: for the backup service only."""

    passphrase: str
