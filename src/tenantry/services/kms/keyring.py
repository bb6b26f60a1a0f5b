"""Which root-key provider a kms process uses, and how it names and creates root key versions.

Only the local provider exists for now; `key_provider` is the one place to choose another
(AWS KMS) from configuration later.
"""

from __future__ import annotations

from tenantry.platform.runtime import ServiceRuntime
from tenantry.services.kms.providers import (
    InvalidKeyRequest,
    KeyProvider,
    KeyProviderError,
    KeyState,
    LocalKeyProvider,
)
from tenantry.services.kms.providers.local import REF_PREFIX

DATA_KEY_PURPOSE = "tenant-data-key"


def key_provider(runtime: ServiceRuntime) -> KeyProvider:
    """The provider of this process's region: root keys under `<data dir>/kms/<region>`."""
    return LocalKeyProvider(runtime.data_dir / "kms" / runtime.region)


def root_key_name(region: str, version: int) -> str:
    """The provider key name of a region's root key version: `root-eu-v2`."""
    return f"root-{region}-v{version}"


def wrap_context(cloud_id: str, version: int) -> dict[str, str]:
    """What a wrapped data key is bound to: its tenant, its version and its purpose."""
    return {"tenant": cloud_id, "version": str(version), "purpose": DATA_KEY_PURPOSE}


def create_root_key(provider: KeyProvider, name: str) -> str:
    """Make the root key `name` with `provider` and return its key ref.

    A key of that name left behind by an interrupted or concurrent rotation is taken as is: the
    `root_keys` table, not the provider, decides which rotation wins. A destroyed key is never
    brought back.
    """
    if not isinstance(provider, LocalKeyProvider):
        raise KeyProviderError(
            "unsupported", f"{type(provider).__name__} cannot create root keys here"
        )
    try:
        return provider.create_key(name)
    except InvalidKeyRequest as exc:
        ref = REF_PREFIX + name
        if exc.reason != "key_exists" or provider.describe(ref) is KeyState.MISSING:
            raise
        return ref
