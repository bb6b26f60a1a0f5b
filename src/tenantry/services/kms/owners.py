"""Root key owners: who answers for a region's root key, and a rotation when that person changes.

An owner is an identity account id. The operator names one for the active version
(`tenantry keys owner`, which checks with identity that the account exists and is an admin).
When identity reports that an account lost its admin role, was deactivated or was removed, this
region's kms rotates its active root key if that account owns it. A report that an account
became an admin changes nothing: an owner is an admin already, so such a report predates the
ownership (an admin made just before being named owner). The new version has no owner until
the operator names one: the person who lost the role must not keep the key, and nobody else is
chosen silently. A repeated report finds the key already rotated and changes nothing, so
identity may safely deliver a report more than once.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from sqlalchemy import update

from tenantry.platform.storage.backend import GLOBAL_SHARD
from tenantry.platform.storage.databases import Databases
from tenantry.services.kms.audit import key_event
from tenantry.services.kms.errors import kms_error
from tenantry.services.kms.models import root_keys
from tenantry.services.kms.root_keys import ACTIVE, RootKey, RootKeys
from tenantry.services.kms.rotation import RootRotation, Rotation

OWNER_ROLE = "admin"
"""The role an owner has; losing it is what rotates the key."""

CHANGE_REASONS = {
    "role_changed": "owner_role_changed",
    "deactivated": "owner_deactivated",
    "removed": "owner_removed",
}
"""The rotation reason the audit log gives for each change identity reports."""


@dataclass(frozen=True, slots=True)
class OwnerChange:
    """What a report about an account did in this region: the rotation it caused, if any."""

    region: str
    account: str
    change: str
    rotation: Rotation | None

    def public(self) -> dict[str, object]:
        """The answer of `POST /internal/kms/owners/changed`."""
        return {
            "region": self.region,
            "account": self.account,
            "change": self.change,
            "rotated": None if self.rotation is None else self.rotation.public(),
        }


class KeyOwners:
    """Sets the owner of one region's active root key, and rotates it when its owner changes."""

    def __init__(
        self, databases: Databases, roots: RootKeys, rotation: RootRotation, region: str
    ) -> None:
        self._databases = databases
        self._roots = roots
        self._rotation = rotation
        self.region = region
        # One owner change at a time, so two reports about one account rotate once.
        self._lock = threading.Lock()

    def set_owner(self, owner: str) -> RootKey:
        """Make `owner` the owner of the region's active root key version."""
        with self._lock:
            active = self._roots.active(self.region)
            with self._databases.engine_for(GLOBAL_SHARD).begin() as connection:
                changed = connection.execute(
                    update(root_keys)
                    .where(
                        root_keys.c.region == self.region,
                        root_keys.c.version == active.version,
                        root_keys.c.state == ACTIVE,
                    )
                    .values(owner=owner)
                ).rowcount
        if changed != 1:
            raise kms_error(
                409, "rotation_conflict", "the root key rotated meanwhile; set its owner again"
            )
        key_event(
            "root_key_owner_set",
            region=self.region,
            root_version=active.version,
            owner=owner,
            previous_owner=active.owner,
        )
        return RootKey(
            active.region, active.version, active.ref, owner, active.state, active.created_at
        )

    def owner_changed(self, account: str, change: str, role: str | None = None) -> OwnerChange:
        """Rotate the active root key if `account` owns it and is no admin now (or is gone).

        The new version has no owner.
        """
        reason = CHANGE_REASONS[change]
        if change == "role_changed" and role == OWNER_ROLE:
            return OwnerChange(self.region, account, change, None)
        with self._lock:
            active = self._roots.active(self.region)
            owned = [
                key.version for key in self._roots.versions(self.region) if key.owner == account
            ]
            if active.owner != account:
                if owned:
                    # Only retired versions: their data keys were rewrapped away already.
                    key_event(
                        "root_key_owner_changed",
                        region=self.region,
                        owner=account,
                        change=change,
                        owned_versions=owned,
                        rotated=False,
                    )
                return OwnerChange(self.region, account, change, None)
            rotation = self._rotation.rotate(None, reason=reason)
        key_event(
            "root_key_owner_changed",
            region=self.region,
            owner=account,
            change=change,
            owned_versions=owned,
            rotated=True,
            from_root_version=active.version,
            root_version=rotation.root.version,
        )
        return OwnerChange(self.region, account, change, rotation)
