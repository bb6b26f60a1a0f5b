"""Put a tenant's data keys under the target region's root key when it moves between regions.

A tenant's data key rows come along with its other rows, still wrapped by the source region's
root key, which only the source region's kms can use. So the target region's kms asks the
source region's kms to hand the tenant's data keys over; the source unwraps them and sends
them, service to service, to the kms of the region tcs names as the move's target (never to
whoever asked: every region's kms signs as `kms`, so a caller's region is not proven by its
token), which wraps each again under its own active root key, in the tenant's rows on the
target shard. Each of the three steps first asks tcs (`platform/move_checks.py`) that the
tenant is moving from the source region to the target one; a call for a tenant that is not
moving so is refused (403 `tenant_not_moving` or `move_elsewhere`). The data keys themselves
stay the same, so everything sealed with them (rows, blobs, backups) opens as before. Versions
wrapped by the customer's own key (BYOK) are not handed over: they stay under that key, and
only its record follows the tenant to the new region.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import bindparam, select, update

from tenantry.platform.client import ServiceClient
from tenantry.platform.context import TenantContext, tenant_scope
from tenantry.platform.errors import ApiError
from tenantry.platform.move_checks import (
    MOVING_ELSEWHERE,
    MoveRecord,
    check_arrives,
    check_leaves,
    registered_move,
)
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
Material = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Version = Annotated[int, Field(ge=1, le=1 << 31)]
MAX_KEYS = 10_000

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


class HandedKey(BaseModel):
    """One data key version, unwrapped (base64)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    version: Version
    material: Material


class Receive(BaseModel):
    """The tenant's keys from `from_region`, to wrap here for its rows on `shard`."""

    model_config = ConfigDict(extra="forbid", strict=True)

    shard: Name
    from_region: Name
    keys: list[HandedKey] = Field(max_length=MAX_KEYS)
    customer_key_versions: list[Version] = Field(max_length=MAX_KEYS)


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

    def _calls(self) -> ServiceClient:
        if self.client is None:
            raise kms_error(503, "moves_unavailable", "this kms makes no calls to other regions")
        return self.client

    async def _move(self, cloud_id: str) -> MoveRecord:
        return await registered_move(self._calls(), cloud_id)

    async def hand_over(self, cloud_id: str, shard: str, to_region: str) -> dict[str, Any]:
        """Send the tenant's root-wrapped data keys, unwrapped, to the kms of the region tcs
        names as its move's target; what that kms did with them."""
        if to_region == self.keys.region:
            raise kms_error(422, "same_region", "the keys are in this region already")
        move = await self._move(cloud_id)
        check_leaves(move, self.keys.region, shard)
        if move.to_region != to_region:
            raise ApiError(
                403, MOVING_ELSEWHERE, f"the tenant is moving to {move.to_region}, not {to_region}"
            )
        handed = await asyncio.to_thread(self._unwrapped, cloud_id, shard)
        answer = await self._calls().call(
            "kms",
            "POST",
            "/internal/kms/moves/{cloud_id}/receive",
            params={"cloud_id": cloud_id},
            json={"shard": move.to_shard, "from_region": self.keys.region, **handed},
            region=move.to_region,
        )
        if answer.status != 200:
            reason = answer.body[:200].decode(errors="replace")
            raise kms_error(502, "receive_refused", f"the target region's kms said: {reason}")
        result: dict[str, Any] = answer.json()
        return result

    def _unwrapped(self, cloud_id: str, shard: str) -> dict[str, Any]:
        """The tenant's root-wrapped data keys, unwrapped; the versions under its own key."""
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

    async def receive(self, cloud_id: str, body: Receive) -> dict[str, Any]:
        """Wrap the keys the source region's kms sent, if the tenant is moving here from it."""
        self._scope(cloud_id, body.shard)  # an unknown shard is refused first
        move = await self._move(cloud_id)
        check_arrives(move, self.keys.region, body.shard)
        if move.region != body.from_region:
            raise ApiError(
                403, MOVING_ELSEWHERE, f"the tenant is moving from {move.region}, not from there"
            )
        handed = body.model_dump()
        return await asyncio.to_thread(self._wrap_here, cloud_id, body.shard, handed)

    async def adopt(self, cloud_id: str, body: Adopt) -> dict[str, Any]:
        """Have the source region's kms send the tenant's keys here, to wrap under ours."""
        if body.from_region == self.keys.region:
            raise kms_error(422, "same_region", "the keys are in this region already")
        self._scope(cloud_id, body.shard)
        move = await self._move(cloud_id)
        check_arrives(move, self.keys.region, body.shard)
        if (move.region, move.shard) != (body.from_region, body.from_shard):
            raise ApiError(
                403, MOVING_ELSEWHERE, f"the tenant is moving from {move.shard}, not from there"
            )
        answer = await self._calls().call(
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
        result: dict[str, Any] = answer.json()
        return result

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
                if moved:  # (none: no copied key row here to wrap, nothing to record)
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
    """kms's routes of a move between regions: the target adopts, the source hands over
    (sending to the target, which receives)."""
    router = APIRouter(prefix=PREFIX, tags=["kms"], dependencies=[Depends(no_store)])

    @router.post("/moves/{cloud_id}/hand-over")
    async def hand_over_keys(cloud_id: CloudId, body: HandOver) -> dict[str, Any]:
        return await moves.hand_over(cloud_id, body.shard, body.to_region)

    @router.post("/moves/{cloud_id}/receive")
    async def receive_keys(cloud_id: CloudId, body: Receive) -> dict[str, Any]:
        return await moves.receive(cloud_id, body)

    @router.post("/moves/{cloud_id}/adopt")
    async def adopt_keys(cloud_id: CloudId, body: Adopt) -> dict[str, Any]:
        return await moves.adopt(cloud_id, body)

    return router
