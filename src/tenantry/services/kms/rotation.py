"""Rotate a region's root key: a new root version, then every tenant's data keys rewrapped under it.

Data is never re-encrypted: the data keys stay the same, only their wrapping changes. Each row
names the root version that wraps it, so a rotation cut short leaves every key readable, and the
next rotation finishes the job.

The rotation itself (and the root key's owner) is region-wide and stays a line of the kms log;
what it does to each tenant, the rewrap of its keys and why, is in that tenant's own log, in
the rewrap's transaction. Owner events stay out of tenants' logs: the owner is an account of
one site, which no other site's log may name.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from tenantry.platform.context import TenantContext, tenant_scope
from tenantry.services.kms.audit import key_event
from tenantry.services.kms.data_key_store import DataKeyStore
from tenantry.services.kms.keyring import create_root_key
from tenantry.services.kms.providers import KeyProvider
from tenantry.services.kms.root_keys import RootKey, RootKeys


@dataclass(frozen=True, slots=True)
class Rotation:
    """What a rotation did: the new root version and how many data keys it rewrapped."""

    root: RootKey
    rewrapped: int

    def public(self) -> dict[str, object]:
        """The answer of `POST /internal/kms/root-key/rotate`."""
        return {
            "region": self.root.region,
            "version": self.root.version,
            "rewrapped": self.rewrapped,
        }


class RootRotation:
    """Rotates the root key of one region, one rotation at a time in this process."""

    def __init__(self, roots: RootKeys, keys: DataKeyStore, provider: KeyProvider) -> None:
        self._roots = roots
        self._keys = keys
        self._provider = provider
        self._lock = threading.Lock()

    def rotate(self, owner: str | None, reason: str = "operator") -> Rotation:
        """Make the next root version (owned by `owner`) and rewrap every data key under it.

        `reason` says in the audit log why it rotated (`operator`, or an owner change).
        """
        region = self._keys.region
        with self._lock:
            root = self._roots.add(
                region,
                lambda name: create_root_key(self._provider, name),
                owner=owner,
                expected=self._roots.latest_version(region),
            )
            rewrapped = sum(self._rewrap_shard(shard, root, reason) for shard in self._keys.shards)
        key_event(
            "root_key_rotated",
            region=region,
            root_version=root.version,
            rewrapped=rewrapped,
            reason=reason,
        )
        return Rotation(root, rewrapped)

    def _rewrap_shard(self, shard: str, root: RootKey, reason: str) -> int:
        count = 0
        for cloud_id in self._keys.holders.on_shard(shard):
            # Only the id and the shard matter to storage; kms never reads a tenant's site.
            tenant = TenantContext(cloud_id, "", root.region, shard, "active")
            with tenant_scope(tenant):
                count += self._keys.rewrap(root, reason)
        return count
