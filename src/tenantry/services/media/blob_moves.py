"""Copy a moving tenant's blobs from this region's media store into another region's.

Media is the only service that touches a media store, so a move between regions has the
source region's media send each blob of the tenant, as stored (sealed under the tenant's data
key, which moves with it), to the target region's media, which keeps it under the same name.
The blobs are the ones the tenant's rows on its old shard name: each file's original, its
previews and thumbnail, and the chunks of uploads under way.

Sending is idempotent and incremental: the target says which blobs it has already (by
digest), and only the others travel, so the move sends everything once before it freezes the
tenant and again, cheaply, while it is frozen; a blob whose digest differs on the target is
sent again. The answer counts the blobs and bytes the target holds with the source's digests:
the move's per-blob verification.

Both ends ask tcs (`platform/move_checks.py`) before they act: the source sends only for a
tenant that lives on the named shard here and whose registered move goes to the named region,
and the target answers `have` and stores a blob only for a tenant moving into its region
(403 `tenant_not_moving` or `move_elsewhere` otherwise). Every region's media signs as `media`,
so the caller's region is never taken on its word.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import select

from tenantry.platform.blobstore import BlobStore, InvalidBlobKey, check_key
from tenantry.platform.client import ServiceClient
from tenantry.platform.context import TenantContext, tenant_scope
from tenantry.platform.errors import ApiError
from tenantry.platform.move_checks import (
    MOVING_ELSEWHERE,
    check_arrives,
    check_gone_from,
    check_leaves,
    registered_move,
)
from tenantry.platform.storage.databases import Databases
from tenantry.services.media import blobs
from tenantry.services.media.models import MediaFile, MediaUploadChunk

PREFIX = "/internal/media/moves"
MAX_NAMES = 10_000
MAX_BLOB_BYTES = 1 << 30

CloudId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=512)]
Region = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")]


class SendRequest(BaseModel):
    """Send the tenant's blobs named by its rows on `shard` of this region to `to_region`."""

    model_config = ConfigDict(extra="forbid", strict=True)

    shard: Region
    to_region: Region


class HaveRequest(BaseModel):
    """Which of these blobs of the tenant this region's store holds, by digest."""

    model_config = ConfigDict(extra="forbid", strict=True)

    names: list[Name] = Field(max_length=MAX_NAMES)


def _digest(store: BlobStore, key: str) -> str:
    digest = hashlib.sha256()
    for piece in store.open(key):
        digest.update(piece)
    return digest.hexdigest()


class BlobMoves:
    """Both ends of a blob copy between regions, for one region's media."""

    def __init__(
        self,
        databases: Databases,
        store: BlobStore,
        client: ServiceClient,
        region: str,
        shards: list[str],
    ) -> None:
        self.databases = databases
        self.store = store
        self.client = client
        self.region = region
        self.shards = shards

    def names(self, cloud_id: str, shard: str) -> list[str]:
        """The blobs the tenant's rows on `shard` name, which the store has."""
        tenant = TenantContext(cloud_id, "", self.region, shard, "active")
        with tenant_scope(tenant), self.databases.session() as session:
            files = list(
                session.rows(select(MediaFile.id, MediaFile.preview_pages).order_by(MediaFile.id))
            )
            chunks = list(
                session.rows(
                    select(MediaUploadChunk.upload_id, MediaUploadChunk.index.label("number"))
                )
            )
        wanted: list[str] = []
        for file_id, pages in ((str(r.id), int(r.preview_pages)) for r in files):
            wanted.append(blobs.original(file_id))
            wanted += [blobs.preview(file_id, page) for page in range(1, pages + 1)]
            wanted.append(blobs.thumbnail(file_id))
        wanted += [blobs.chunk(str(r.upload_id), int(r.number)) for r in chunks]
        return [name for name in wanted if self.store.exists(f"{cloud_id}/{name}")]

    async def check_arriving(self, cloud_id: str) -> None:
        """Refuse unless tcs has the tenant moving into this region from another."""
        check_arrives(await registered_move(self.client, cloud_id), self.region)

    async def remove(self, cloud_id: str) -> None:
        """Remove every blob of a tenant that moved to another region (its old copy here),
        once tcs names another region as its home and no move brings it back."""
        await check_gone_from(self.client, cloud_id, self.region)
        try:
            tree = check_key(cloud_id)
        except InvalidBlobKey:
            raise ApiError(422, "invalid_tenant", "that is not a tenant id") from None
        await asyncio.to_thread(self.store.delete_prefix, tree)

    def have(self, cloud_id: str, names: list[str]) -> dict[str, str | None]:
        """Each name's digest as this region's store holds it (None: not here)."""
        found: dict[str, str | None] = {}
        for name in names:
            key = _key(cloud_id, name)
            found[name] = _digest(self.store, key) if self.store.exists(key) else None
        return found

    def keep(self, cloud_id: str, name: str, data: bytes) -> str:
        """Store one blob of the tenant as sent; its digest."""
        key = _key(cloud_id, name)
        self.store.put(key, data)
        return hashlib.sha256(data).hexdigest()

    async def send(self, cloud_id: str, shard: str, to_region: str) -> dict[str, Any]:
        """Make the target region hold every blob of the tenant; what it holds now."""
        if shard not in self.shards:
            raise ApiError(422, "unknown_shard", f"shard {shard!r} is not in {self.region}")
        if to_region == self.region:
            raise ApiError(422, "same_region", "the blobs are in this region already")
        move = await registered_move(self.client, cloud_id)
        check_leaves(move, self.region, shard)
        if move.to_region != to_region:
            raise ApiError(
                403, MOVING_ELSEWHERE, f"the tenant is moving to {move.to_region}, not {to_region}"
            )
        names = await asyncio.to_thread(self.names, cloud_id, shard)
        ours = await asyncio.to_thread(self.have, cloud_id, names)
        theirs: dict[str, Any] = {}
        for start in range(0, len(names), 500):
            answer = await self.client.call(
                "media",
                "POST",
                "/internal/media/moves/{cloud_id}/have",
                params={"cloud_id": cloud_id},
                json={"names": names[start : start + 500]},
                region=to_region,
            )
            if answer.status != 200:
                raise _target_refused(answer.status, answer.body)
            theirs.update(answer.json()["have"])
        sent = 0
        size = 0
        for name in names:
            key = f"{cloud_id}/{name}"
            if theirs.get(name) != ours[name]:
                data = await asyncio.to_thread(self.store.get, key)
                answer = await self.client.call(
                    "media",
                    "PUT",
                    "/internal/media/moves/{cloud_id}/blob",
                    params={"cloud_id": cloud_id},
                    query={"name": name},
                    content=data,
                    region=to_region,
                )
                if answer.status != 200 or answer.json()["sha256"] != ours[name]:
                    raise _target_refused(answer.status, answer.body)
                sent += 1
            size += await asyncio.to_thread(_size, self.store, key)
        return {"blobs": len(names), "sent": sent, "bytes": size}


def _size(store: BlobStore, key: str) -> int:
    return sum(len(piece) for piece in store.open(key))


def _key(cloud_id: str, name: str) -> str:
    try:
        return check_key(f"{cloud_id}/{name}")
    except InvalidBlobKey:
        raise ApiError(422, "invalid_blob_name", "that is not a blob name") from None


def _target_refused(status: int, body: bytes) -> ApiError:
    return ApiError(
        502,
        "move_target_refused",
        f"the target region's media answered {status}: {body[:200].decode(errors='replace')}",
    )


def build_blob_move_router(moves: BlobMoves) -> APIRouter:
    """Media's routes of a move between regions: the source sends, the target keeps, and the
    source removes its old copy when the move's keeping time is over."""
    router = APIRouter(prefix=PREFIX, tags=["media"])

    @router.post("/{cloud_id}/send")
    async def send_blobs(cloud_id: CloudId, body: SendRequest) -> dict[str, Any]:
        return await moves.send(cloud_id, body.shard, body.to_region)

    @router.post("/{cloud_id}/have")
    async def have_blobs(cloud_id: CloudId, body: HaveRequest) -> dict[str, Any]:
        await moves.check_arriving(cloud_id)
        return {"have": await asyncio.to_thread(moves.have, cloud_id, body.names)}

    @router.post("/{cloud_id}/remove")
    async def remove_blobs(cloud_id: CloudId) -> dict[str, Any]:
        await moves.remove(cloud_id)
        return {"removed": True}

    @router.put("/{cloud_id}/blob")
    async def keep_blob(
        cloud_id: CloudId, name: Annotated[Name, Query()], request: Request
    ) -> dict[str, Any]:
        await moves.check_arriving(cloud_id)
        data = await request.body()
        if len(data) > MAX_BLOB_BYTES:
            raise ApiError(413, "blob_too_large", "a blob sent by a move is at most 1 GiB")
        return {"sha256": await asyncio.to_thread(moves.keep, cloud_id, name, data)}

    return router
