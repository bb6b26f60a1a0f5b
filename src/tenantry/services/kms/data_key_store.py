"""Tenants' data keys: made on first use, kept wrapped on the tenant's shard, unwrapped on request.

Every method works for the tenant of the running context, through a tenant session on that
tenant's shard. Provider calls happen between short transactions, never inside one, so a slow
key provider holds no database lock. Failures of the provider surface as its typed errors.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError

from tenantry.platform.context import TenantContext, require_tenant
from tenantry.platform.crypto import DataKey
from tenantry.platform.crypto.index_keys import INDEX_KEY_VERSION, index_key
from tenantry.platform.storage.databases import Databases
from tenantry.platform.storage.model import utc_now
from tenantry.services.kms.audit import TenantKeyEvents
from tenantry.services.kms.customer_keys import CustomerKey, CustomerKeys
from tenantry.services.kms.errors import kms_error
from tenantry.services.kms.holders import KeyHolders
from tenantry.services.kms.keyring import wrap_context
from tenantry.services.kms.models import WrappedDataKey
from tenantry.services.kms.providers import DATA_KEY_BYTES, KeyProvider
from tenantry.services.kms.root_keys import RootKey, RootKeys
from tenantry.services.kms.schemas import CUSTOMER_KEY_MAX_AGE_SECONDS, MAX_AGE_SECONDS

FIRST_VERSION = 1
ACTIVE = "active"
DESTROYED = "destroyed"
"""A version whose wrapped key was erased when the tenant was purged: nothing opens its data."""
RETIRED = "retired"
"""A version below the tenant's minimum decryption version: kept wrapped (and rewrapped by root
rotations) so a backup sealed with it stays restorable, but never handed to a service."""
CUSTOMER_KEY_ROOT_VERSION = 0
"""The `root_version` of a data key wrapped by the tenant's own key: no root rotation touches it."""
MAX_MOVE_PASSES = 5

_COLUMNS = (
    WrappedDataKey.version,
    WrappedDataKey.wrapped,
    WrappedDataKey.root_key_ref,
    WrappedDataKey.root_version,
    WrappedDataKey.state,
)
_CURRENT = (
    select(*_COLUMNS)
    .where(WrappedDataKey.state == ACTIVE)
    .order_by(WrappedDataKey.version.desc())
    .limit(1)
)
_LATEST = select(*_COLUMNS).order_by(WrappedDataKey.version.desc()).limit(1)
_BY_VERSION = select(*_COLUMNS).where(
    WrappedDataKey.version == bindparam("key_version"), WrappedDataKey.state != DESTROYED
)
# Versions below the minimum that are still active; the newest active version is never one.
_TO_RETIRE = select(WrappedDataKey.version).where(
    WrappedDataKey.version < bindparam("below"), WrappedDataKey.state == ACTIVE
)
_RETIRE = (
    update(WrappedDataKey)
    .where(WrappedDataKey.version < bindparam("below"), WrappedDataKey.state == ACTIVE)
    .values(state=RETIRED)
)
_RETIRED = select(WrappedDataKey.version).where(WrappedDataKey.state == RETIRED)
_REOPEN = update(WrappedDataKey).where(WrappedDataKey.state == RETIRED).values(state=ACTIVE)
_OLDEST_ACTIVE = (
    select(WrappedDataKey.version)
    .where(WrappedDataKey.state == ACTIVE)
    .order_by(WrappedDataKey.version)
    .limit(1)
)
_ANY_DESTROYED = select(WrappedDataKey.version).where(WrappedDataKey.state == DESTROYED).limit(1)
_NOT_UNDER_ROOT = select(*_COLUMNS).where(
    WrappedDataKey.root_version != bindparam("target"),
    WrappedDataKey.root_version != CUSTOMER_KEY_ROOT_VERSION,
    WrappedDataKey.state != DESTROYED,
)
_NOT_UNDER_REF = select(*_COLUMNS).where(
    WrappedDataKey.root_key_ref != bindparam("target_ref"), WrappedDataKey.state != DESTROYED
)
# Purge: every version of the tenant keeps its row (so no version number is ever reused) but
# loses its wrapped key, which was the only copy.
_DESTROY = update(WrappedDataKey).values(wrapped=b"", root_key_ref="", state=DESTROYED)
# Names the root version read, so a row another rotation rewrapped meanwhile is left alone.
_REWRAP = (
    update(WrappedDataKey)
    .where(
        WrappedDataKey.version == bindparam("key_version"),
        WrappedDataKey.root_version == bindparam("old_root_version"),
    )
    .values(
        wrapped=bindparam("new_wrapped"),
        root_key_ref=bindparam("new_ref"),
        root_version=bindparam("new_root_version"),
    )
)
# Guarded by the ref and root version read, so a row rewrapped meanwhile is read again instead.
_MOVE = (
    update(WrappedDataKey)
    .where(
        WrappedDataKey.version == bindparam("key_version"),
        WrappedDataKey.root_key_ref == bindparam("old_ref"),
        WrappedDataKey.root_version == bindparam("old_root_version"),
    )
    .values(
        wrapped=bindparam("new_wrapped"),
        root_key_ref=bindparam("new_ref"),
        root_version=bindparam("new_root_version"),
    )
)


@dataclass(frozen=True, slots=True)
class Wrapping:
    """What wraps a tenant's data keys: a root key version, or the tenant's own key."""

    ref: str
    root_version: int

    @classmethod
    def of_root(cls, root: RootKey) -> Wrapping:
        """Wrapping under a version of the region's root key."""
        return cls(root.ref, root.version)

    @classmethod
    def of_customer(cls, key_ref: str) -> Wrapping:
        """Wrapping under the tenant's own AWS KMS key."""
        return cls(key_ref, CUSTOMER_KEY_ROOT_VERSION)


class DataKeyStore:
    """The data keys of the tenants homed on `shards` of `region`."""

    def __init__(
        self,
        databases: Databases,
        roots: RootKeys,
        provider: KeyProvider,
        region: str,
        shards: Iterable[str],
        customers: CustomerKeys | None = None,
        events: TenantKeyEvents | None = None,
    ) -> None:
        self._databases = databases
        self.events = events or TenantKeyEvents(None)
        """Where each tenant key event is recorded, in the transaction of its change."""
        self._roots = roots
        self._provider = provider
        self._holders = KeyHolders(databases)
        self.customers = customers or CustomerKeys(databases, self.events)
        self.region = region
        self.shards = tuple(shards)

    @property
    def provider(self) -> KeyProvider:
        """What wraps and unwraps this region's data keys (root keys and customer keys)."""
        return self._provider

    @property
    def holders(self) -> KeyHolders:
        """The list of tenants with keys, per shard."""
        return self._holders

    def current(self) -> DataKey:
        """The tenant's newest active data key; version 1 is made on the first request.

        Concurrent first requests all answer the one key that was stored: the primary key lets
        only one version 1 in, and the others read it back.
        """
        tenant = self._home_tenant()
        self._refuse_if_revoked(tenant)
        row = self._read(_CURRENT)
        if row is not None:
            return self._unwrap(tenant, row)
        self._refuse_if_destroyed()
        return self._create_first(tenant)

    def at_version(self, version: int) -> DataKey:
        """The tenant's data key of `version`; 404 `data_key_not_found`, 410 `data_key_retired`."""
        tenant = self._home_tenant()
        self._refuse_if_revoked(tenant)
        row = self._stored(version)
        if row.state == RETIRED:
            raise kms_error(
                410, "data_key_retired", f"data key {version} is below the minimum version"
            )
        return self._unwrap(tenant, row)

    def index_key(self, purpose: bytes) -> bytes:
        """The tenant's blind index key for `purpose`, derived from data key version 1.

        Served apart from the data keys so an index keeps working once version 1 is retired:
        the derived key finds rows by value but opens nothing sealed under version 1.
        """
        tenant = self._home_tenant()
        self._refuse_if_revoked(tenant)
        return index_key(self._unwrap(tenant, self._stored(INDEX_KEY_VERSION)), purpose)

    def retire(self, below: int) -> tuple[list[int], int]:
        """Retire every version of the tenant below `below`; (versions retired now, minimum).

        The minimum decryption version is raised, never lowered: running it again, or with a
        lower `below`, retires nothing more. `below` above the current version is refused with
        409 `retire_above_current` (the current key must stay usable), and a purged tenant
        stays purged (410 `data_keys_destroyed`).
        """
        self._home_tenant()
        self._refuse_if_destroyed()
        current = self._read(_CURRENT)
        if current is None or below > current.version:
            have = 0 if current is None else current.version
            raise kms_error(
                409,
                "retire_above_current",
                f"cannot retire versions below {below}: the current version is {have}",
            )
        with self._databases.session() as session:
            retired = sorted(row.version for row in session.rows(_TO_RETIRE, {"below": below}))
            session.rows(_RETIRE, {"below": below})
            minimum = int(session.rows(_OLDEST_ACTIVE).scalar_one())
            self.events.record(session, "data_keys_retired", versions=retired, below=below)
        self.events.wake()
        return retired, minimum

    def reopen_for_restore(self) -> list[int]:
        """Let the retired versions of a tenant being restored open data again, for a moment.

        A tenant restore that brings back rows sealed before a rotation reseals them under a
        new version at once and retires every older one again (`tenant restore` does both), so
        the retirement ends where it was and higher. Only while tcs has the tenant as
        `restoring` (409 `tenant_not_restoring` otherwise); destroyed versions never reopen.
        """
        tenant = self._home_tenant()
        if tenant.status != "restoring":
            raise kms_error(
                409, "tenant_not_restoring", "retired keys reopen only during a tenant restore"
            )
        self._refuse_if_destroyed()
        with self._databases.session() as session:
            reopened = sorted(row.version for row in session.rows(_RETIRED))
            session.rows(_REOPEN)
            self.events.record(session, "data_keys_reopened_for_restore", versions=reopened)
        self.events.wake()
        return reopened

    def rotate(self) -> int:
        """Make the tenant's next data key version, the one every new seal uses from now on.

        Older versions stay active for reading until everything sealed with them is resealed.
        Two rotations at once: one wins, the other is refused with 409 `rotation_conflict`.
        """
        tenant = self._home_tenant()
        self._refuse_if_destroyed()
        latest = self._read(_LATEST)
        version = FIRST_VERSION if latest is None else latest.version + 1
        try:
            self._store_new(tenant, version, "data_key_rotated")
        except IntegrityError:
            raise kms_error(
                409, "rotation_conflict", "another rotation of this key ran meanwhile"
            ) from None
        return version

    def rewrap(self, root: RootKey, reason: str = "operator") -> int:
        """Rewrap every data key of the tenant not yet under `root`; the number rewrapped.

        Only the wrapping changes: the data keys, and so everything sealed with them, stay as
        they are. `reason` is why the root key rotated (`operator`, `owner_removed`, ...): the
        tenant's log records its part of a root rotation, with the why, in this transaction.
        """
        tenant = require_tenant()
        with self._databases.session() as session:
            rows = list(session.rows(_NOT_UNDER_ROOT, {"target": root.version}))
        if not rows:
            return 0
        updates = []
        for row in rows:
            context = wrap_context(tenant.cloud_id, row.version)
            material = self._provider.unwrap(row.root_key_ref, row.wrapped, context)
            updates.append(
                {
                    "key_version": row.version,
                    "old_root_version": row.root_version,
                    "new_wrapped": self._provider.wrap(root.ref, material, context),
                    "new_ref": root.ref,
                    "new_root_version": root.version,
                }
            )
        rewrapped = []
        with self._databases.session() as session:
            for values in updates:
                if session.rows(_REWRAP, values).rowcount == 1:
                    rewrapped.append(values["key_version"])
            self.events.record(
                session,
                "data_keys_rewrapped",
                versions=rewrapped,
                from_root_versions=sorted({row.root_version for row in rows}),
                root_version=root.version,
                reason=reason,
            )
        self.events.wake()
        return len(rewrapped)

    def destroy(self) -> int:
        """Erase every data key of the tenant (crypto-shredding); the versions erased.

        What was sealed with them (rows, blobs, backups) stays where it is and can never be
        opened again, by anyone: the wrapped keys were the only copies, and a data key is never
        handed out unwrapped for keeping. No new key is made afterwards. Running it again
        changes nothing.
        """
        tenant = self._home_tenant()
        with self._databases.session() as session:
            versions = [row.version for row in session.rows(_LATEST.limit(None))]
            session.rows(_DESTROY)
            self.events.record(session, "data_keys_destroyed", versions=sorted(versions))
        self.events.wake()
        self.customers.remove(tenant.cloud_id)  # its watch ends: nothing of it is left to guard
        return len(versions)

    def max_age(self) -> int:
        """How long a service may hold the tenant's keys: shorter under the tenant's own key."""
        if self.customers.of(require_tenant().cloud_id) is not None:
            return CUSTOMER_KEY_MAX_AGE_SECONDS
        return MAX_AGE_SECONDS

    def move_to(self, target: Wrapping) -> list[int]:
        """Rewrap every data key version of the tenant under `target`; the versions moved.

        Used to switch a tenant to its own key (BYOK) and back, online: each version is
        unwrapped with the key that wraps it now and wrapped again under `target`. The data
        keys stay the same. Versions made or rewrapped meanwhile are picked up by another pass.
        """
        tenant = self._home_tenant()
        moved: list[int] = []
        for _ in range(MAX_MOVE_PASSES):
            with self._databases.session() as session:
                rows = list(session.rows(_NOT_UNDER_REF, {"target_ref": target.ref}))
            if not rows:
                return moved
            updates = []
            for row in rows:
                context = wrap_context(tenant.cloud_id, row.version)
                material = self._provider.unwrap(row.root_key_ref, row.wrapped, context)
                updates.append(
                    {
                        "key_version": row.version,
                        "old_ref": row.root_key_ref,
                        "old_root_version": row.root_version,
                        "new_wrapped": self._provider.wrap(target.ref, material, context),
                        "new_ref": target.ref,
                        "new_root_version": target.root_version,
                    }
                )
            with self._databases.session() as session:
                now = [v["key_version"] for v in updates if session.rows(_MOVE, v).rowcount == 1]
                if now:
                    self.events.record(
                        session,
                        "data_keys_moved",
                        versions=now,
                        key_ref=target.ref,
                        root_version=target.root_version,
                    )
            self.events.wake()
            moved.extend(now)
        raise kms_error(409, "rotation_conflict", "the data keys kept changing during the rewrap")

    def _stored(self, version: int) -> Any:
        """The stored row of `version` (retired or not); 404 or 410 when there is none."""
        row = self._read(_BY_VERSION, {"key_version": version})
        if row is None:
            self._refuse_if_destroyed()
            raise kms_error(404, "data_key_not_found", f"the tenant has no data key {version}")
        return row

    def _refuse_if_destroyed(self) -> None:
        """410 `data_keys_destroyed` once the tenant was purged."""
        if self._read(_ANY_DESTROYED) is not None:
            raise kms_error(410, "data_keys_destroyed", "the tenant was purged; its keys are gone")

    def _refuse_if_revoked(self, tenant: TenantContext) -> CustomerKey | None:
        """The tenant's customer key, if any; 503 while kms finds that key unusable."""
        customer = self.customers.of(tenant.cloud_id)
        if customer is not None and not customer.usable:
            raise kms_error(
                503, "tenant_key_unavailable", "the tenant's own key is disabled or revoked"
            )
        return customer

    def _wrapping(self, tenant: TenantContext) -> Wrapping:
        """What a new data key version of the tenant is wrapped under now."""
        customer = self._refuse_if_revoked(tenant)
        if customer is not None:
            return Wrapping.of_customer(customer.key_ref)
        return Wrapping.of_root(self._roots.active(self.region))

    def _home_tenant(self) -> TenantContext:
        """The context's tenant, which must live on one of this process's shards."""
        tenant = require_tenant()
        if tenant.region != self.region or tenant.shard not in self.shards:
            raise kms_error(403, "wrong_region", "this tenant's keys do not live in this region")
        return tenant

    def _read(self, statement: Any, params: dict[str, Any] | None = None) -> Any:
        with self._databases.session() as session:
            return session.rows(statement, params).first()

    def _unwrap(self, tenant: TenantContext, row: Any) -> DataKey:
        context = wrap_context(tenant.cloud_id, row.version)
        return DataKey(row.version, self._provider.unwrap(row.root_key_ref, row.wrapped, context))

    def _create_first(self, tenant: TenantContext) -> DataKey:
        try:
            return DataKey(
                FIRST_VERSION, self._store_new(tenant, FIRST_VERSION, "data_key_created")
            )
        except IntegrityError:
            stored = self._read(_CURRENT)
            if stored is None:
                raise kms_error(
                    409, "no_active_data_key", "the tenant's data keys are all retired"
                ) from None
            return self._unwrap(tenant, stored)

    def _store_new(self, tenant: TenantContext, version: int, event: str) -> bytes:
        """Make, wrap and store data key `version`; IntegrityError if it exists already."""
        target = self._wrapping(tenant)
        material = secrets.token_bytes(DATA_KEY_BYTES)
        wrapped = self._provider.wrap(target.ref, material, wrap_context(tenant.cloud_id, version))
        self._holders.add(tenant.shard, tenant.cloud_id)
        row = {
            "version": version,
            "wrapped": wrapped,
            "root_key_ref": target.ref,
            "root_version": target.root_version,
            "state": ACTIVE,
            "created_at": utc_now(),
        }
        with self._databases.session() as session:
            session.insert_rows(WrappedDataKey, [row])
            self.events.record(session, event, version=version, root_version=target.root_version)
        self.events.wake()
        # A switch to or from the tenant's own key that finished meanwhile missed this version.
        now = self._wrapping(tenant)
        if now != target:
            self.move_to(now)
        return material
