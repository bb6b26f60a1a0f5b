"""Put a tenant's data keys under the target region's root key when it moves between regions.

A tenant's data key rows come along with its other rows, still wrapped by the source region's
root key, which only the source region's kms can use. So the target region's kms asks the
source region's kms to hand the tenant's data keys over, unwrapped, service to service (the
allowlist lets only kms ask, and the move has frozen the tenant there), and wraps each again
under its own active root key, in the tenant's rows on the target shard. The data keys
themselves stay the same, so everything sealed with them (rows, blobs, backups) opens as
before. Versions wrapped by the customer's own key (BYOK) are not handed over: they stay under
that key, and only its record follows the tenant to the new region.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, StringConstraints
from sqlalchemy import bindparam, select, update

from tenantry.platform.client import ServiceClient
from tenantry.platform.context import TenantContext, tenant_scope
from tenantry.platform.storage.databases import Databases
from tenantry.services.kms.customer_keys import CustomerKeys
from tenantry.services.kms.data_key_store import (
    CUSTOMER_KEY_ROOT_VERSION,
    DESTROYED,
    DataKeyStore,
)
from tenantry.services.kms.errors import kms_error, provider_errors
from tenantry.services.kms.keyring import wrap_context
from tenantry.services.kms.models import WrappedDataKey
from tenantry.services.kms.root_keys import RootKeys
from tenantry.services.kms.routes import PREFIX, no_store

CloudId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")]
Name = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")]

_ALL = select(
    WrappedDataKey.version,
    WrappedDataKey.wrapped,
    WrappedDataKey.root_key_ref,
    WrappedDataKey.root_version,
    WrappedDataKey.state,
).order_by(WrappedDataKey.version)
_ADOPT = (
    update(WrappedDataKey)
    .where(WrappedDataKey.version == bindparam("key_version"))
    .values(
        wrapped=bindparam("new_wrapped"),
        root_key_ref=bindparam("new_ref"),
        root_version=bindparam("new_root_version"),
    )
)


class HandOver(BaseModel):
    """The tenant's keys on `shard` of this region, for the region it moves to."""

    model_config = ConfigDict(extra="forbid", strict=True)

    shard: Name
    to_region: Name


class Adopt(BaseModel):
    """Take over the tenant's keys, copied to `shard` of this region from `from_region`."""

    model_config = ConfigDict(extra="forbid", strict=True)

    shard: Name
    from_region: Name
    from_shard: Name


class KeyMoves:
    """Both ends of a data key move between regions, for one region's kms."""

    def __init__(
        self,
        databases: Databases,
        keys: DataKeyStore,
        roots: RootKeys,
        client: ServiceClient | None,
    ) -> None:
        self.databases = databases
        self.keys = keys
        self.roots = roots
        self.customers: CustomerKeys = keys.customers
        self.client = client

    def _scope(self, cloud_id: str, shard: str) -> Any:
        if shard not in self.keys.shards:
            raise kms_error(422, "unknown_shard", f"shard {shard!r} is not in {self.keys.region}")
        return tenant_scope(TenantContext(cloud_id, "", self.keys.region, shard, "active"))

    def hand_over(self, cloud_id: str, shard: str, to_region: str) -> dict[str, Any]:
        """The tenant's root-wrapped data keys, unwrapped; the versions under its own key."""
        if to_region == self.keys.region:
            raise kms_error(422, "same_region", "the keys are in this region already")
        handed: list[dict[str, Any]] = []
        customer: list[int] = []
        with self._scope(cloud_id, shard):
            with self.databases.session() as session:
                rows = list(session.rows(_ALL))
            for row in rows:
                if row.state == DESTROYED:
                    continue
                if row.root_version == CUSTOMER_KEY_ROOT_VERSION:
                    customer.append(row.version)
                    continue
                context = wrap_context(cloud_id, row.version)
                with provider_errors(version=row.version):
                    material = self.keys.provider.unwrap(row.root_key_ref, row.wrapped, context)
                handed.append(
                    {"version": row.version, "material": base64.b64encode(material).decode()}
                )
        return {"keys": handed, "customer_key_versions": customer}

    async def adopt(self, cloud_id: str, body: Adopt) -> dict[str, Any]:
        """Fetch the tenant's keys from the source region and wrap them under ours."""
        if body.from_region == self.keys.region:
            raise kms_error(422, "same_region", "the keys are in this region already")
        if self.client is None:
            raise kms_error(503, "moves_unavailable", "this kms makes no calls to other regions")
        answer = await self.client.call(
            "kms",
            "POST",
            "/internal/kms/moves/{cloud_id}/hand-over",
            params={"cloud_id": cloud_id},
            json={"shard": body.from_shard, "to_region": self.keys.region},
            region=body.from_region,
        )
        if answer.status != 200:
            reason = answer.body[:200].decode(errors="replace")
            raise kms_error(502, "hand_over_refused", f"the source region's kms said: {reason}")
        handed = answer.json()
        return await asyncio.to_thread(self._wrap_here, cloud_id, body.shard, handed)

    def _wrap_here(self, cloud_id: str, shard: str, handed: dict[str, Any]) -> dict[str, Any]:
        root = self.roots.active(self.keys.region)
        updates = []
        for key in handed["keys"]:
            material = base64.b64decode(key["material"])
            context = wrap_context(cloud_id, int(key["version"]))
            with provider_errors(version=int(key["version"])):
                wrapped = self.keys.provider.wrap(root.ref, material, context)
            updates.append(
                {
                    "key_version": int(key["version"]),
                    "new_wrapped": wrapped,
                    "new_ref": root.ref,
                    "new_root_version": root.version,
                }
            )
        with self._scope(cloud_id, shard):
            with self.databases.session() as session:
                moved = [v["key_version"] for v in updates if session.rows(_ADOPT, v).rowcount]
                self.keys.events.record(
                    session,
                    "data_keys_moved",
                    versions=moved,
                    region=self.keys.region,
                    root_version=root.version,
                    reason="tenant_moved",
                )
            self.keys.events.wake()
        self.keys.holders.add(shard, cloud_id)
        customer = handed["customer_key_versions"]
        if customer and self.customers.of(cloud_id) is not None:
            self.customers.rehome(cloud_id, self.keys.region, shard)
        return {"rewrapped": moved, "customer_key_versions": customer}


def build_key_move_router(moves: KeyMoves) -> APIRouter:
    """kms's routes of a move between regions: the source hands over, the target adopts."""
    router = APIRouter(prefix=PREFIX, tags=["kms"], dependencies=[Depends(no_store)])

    @router.post("/moves/{cloud_id}/hand-over")
    def hand_over_keys(cloud_id: CloudId, body: HandOver) -> dict[str, Any]:
        return moves.hand_over(cloud_id, body.shard, body.to_region)

    @router.post("/moves/{cloud_id}/adopt")
    async def adopt_keys(cloud_id: CloudId, body: Adopt) -> dict[str, Any]:
        return await moves.adopt(cloud_id, body)

    return router
