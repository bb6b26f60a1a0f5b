"""tcs's HTTP API: create and look up tenants, change their status, and follow changes."""

from __future__ import annotations

from typing import Annotated

import jwt
from fastapi import APIRouter, Path, Query, Response

from tenantry.platform.change_feed import MAX_WAIT_SECONDS, ChangeFeed
from tenantry.platform.cursors import GLOBAL_SCOPE, MAX_CURSOR_LENGTH, ListCursors, Listing
from tenantry.platform.errors import ApiError
from tenantry.platform.tenant_context import sign_tenant_context
from tenantry.platform.tokens import TokenSigner
from tenantry.platform.topology import PlacementError
from tenantry.services.tcs.catalog import Catalog, Tenant, iso_time, validate_site
from tenantry.services.tcs.schemas import (
    HomeChange,
    KeyAvailability,
    MoveStart,
    NewTenant,
    StatusChange,
)
from tenantry.services.tcs.site_deletions import SiteDeletions

MAX_PAGE = 500
TENANT_LIST = Listing(GLOBAL_SCOPE, "tenants")


CloudId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")]


def build_router(
    catalog: Catalog,
    feed: ChangeFeed,
    signer: TokenSigner,
    cursors: ListCursors,
    deletions: SiteDeletions,
) -> APIRouter:
    """The routes of tcs, bound to its catalog, change feed, context signer, list cursors and
    site deletions."""
    router = APIRouter()

    def with_context(tenant: Tenant) -> dict[str, object]:
        """A tenant as JSON with its signed context, which its caller forwards on its behalf."""
        context = sign_tenant_context(signer, tenant.context())
        expires = jwt.decode(context, options={"verify_signature": False})["exp"]
        return {**tenant.public(), "context": context, "context_expires": expires}

    @router.post("/internal/tcs/tenants", status_code=201)
    async def create_tenant(body: NewTenant) -> dict[str, object]:
        # A pinned region wins; without one, where the users are decides, or nothing does.
        if body.region is not None:
            if body.region not in catalog.topology.regions:
                raise ApiError(422, "unknown_region", f"there is no region {body.region!r}")
            region = body.region
        elif body.users_by_country is not None:
            try:
                region = catalog.topology.region_for_users(body.users_by_country)
            except PlacementError as refused:
                raise ApiError(422, refused.code, refused.message) from None
        else:
            raise ApiError(422, "invalid_placement", "give `users_by_country`, or pin a `region`")
        tenant = catalog.create(body.site, region, pinned=body.region is not None)
        feed.notify()
        return with_context(tenant)

    @router.get("/internal/tcs/tenants")
    async def list_tenants(
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = MAX_PAGE,
        cursor: Annotated[str | None, Query(max_length=MAX_CURSOR_LENGTH)] = None,
    ) -> dict[str, object]:
        """Every site of the catalog in site order, a page at a time (for the operator)."""
        after = cursors.open(cursor, TENANT_LIST, (str,))[0] if cursor is not None else None
        rows = catalog.records(after, limit + 1)
        page = rows[:limit]
        more = len(rows) > limit
        next_cursor = cursors.seal(TENANT_LIST, str(page[-1]["site"])) if more else None
        return {"tenants": page, "next_cursor": next_cursor}

    @router.get("/internal/tcs/tenants/{site}")
    async def tenant_record(site: str) -> dict[str, object]:
        """One site's catalog row with its creation time (for the operator)."""
        validate_site(site)
        found = catalog.record(site)
        if found is None:
            raise ApiError(404, "unknown_site", f"there is no site {site!r}")
        return found

    @router.get("/internal/tcs/tenants/by-site/{site}")
    async def tenant_by_site(site: str) -> dict[str, object]:
        validate_site(site)
        tenant = catalog.by_site(site)
        if tenant is None:
            raise ApiError(404, "unknown_site", f"there is no site {site!r}")
        return with_context(tenant)

    @router.get("/internal/tcs/tenants/by-cloud-id/{cloud_id}")
    async def tenant_by_cloud_id(cloud_id: CloudId) -> dict[str, object]:
        """A tenant and its signed context by its cloud id, whatever its status: for work a
        service does for a tenant outside any request (delivering its audit events)."""
        tenant = catalog.by_cloud_id(cloud_id)
        if tenant is None:
            raise ApiError(404, "unknown_tenant", f"there is no tenant {cloud_id!r}")
        return with_context(tenant)

    @router.get("/internal/tcs/tenants/by-cloud-id/{cloud_id}/move")
    async def tenant_move(cloud_id: CloudId) -> dict[str, object]:
        """A tenant's home and the target of its move under way (`move` None: not moving):
        what kms and media check before they hand its keys or blobs to another region."""
        return catalog.move_by_cloud_id(cloud_id)

    @router.put("/internal/tcs/tenants/{site}/move")
    async def begin_move(site: str, body: MoveStart) -> dict[str, object]:
        """Register a move before it copies anything (the operator's move command does)."""
        validate_site(site)
        return catalog.begin_move(site, body.from_shard, body.to_shard, to_region=body.to_region)

    @router.delete("/internal/tcs/tenants/{site}/move")
    async def end_move(site: str) -> dict[str, object]:
        """Forget a move that stopped without switching."""
        validate_site(site)
        return catalog.end_move(site)

    @router.delete("/internal/tcs/tenants/{cloud_id}", status_code=204)
    async def remove_tenant(cloud_id: str) -> Response:
        catalog.remove(cloud_id)
        feed.notify()
        return Response(status_code=204)

    @router.post("/internal/tcs/tenants/{site}/status")
    async def change_status(site: str, body: StatusChange) -> dict[str, object]:
        tenant = catalog.set_status(site, body.status)
        feed.notify()
        return tenant.public()

    @router.post("/internal/tcs/tenants/{site}/home")
    async def change_home(site: str, body: HomeChange) -> dict[str, object]:
        """Switch a moving site's home shard (and region); every edge follows within a second."""
        validate_site(site)
        tenant = catalog.set_home(
            site,
            body.from_shard,
            body.to_shard,
            to_region=body.to_region,
            unpin=body.unpin,
            moved=body.moved,
        )
        feed.notify()
        return tenant.public()

    @router.post("/internal/tcs/tenants/{site}/delete")
    async def delete_site(site: str) -> dict[str, object]:
        """Make a site unreachable at once; it is purged when its grace period ends."""
        validate_site(site)
        tenant, purge_at = deletions.delete(site)
        return {**tenant.public(), "purge_at": iso_time(purge_at)}

    @router.post("/internal/tcs/tenants/{site}/undelete")
    async def undelete_site(site: str) -> dict[str, object]:
        """Bring a deleted site back within its grace period."""
        validate_site(site)
        return deletions.undelete(site).public()

    @router.post("/internal/tcs/tenants/{site}/purge")
    async def purge_site(site: str) -> dict[str, object]:
        """Destroy a site's data keys now; `destroyed` is None when it was purged already."""
        validate_site(site)
        return {"site": site, "destroyed": await deletions.purge(site)}

    @router.put("/internal/tcs/tenants/{cloud_id}/key-availability")
    async def change_key_availability(cloud_id: str, body: KeyAvailability) -> dict[str, object]:
        tenant, changed = catalog.set_key_available(cloud_id, body.available)
        if changed:
            feed.notify()
        return tenant.public()

    @router.get("/internal/tcs/changes")
    async def changes(
        after: int = Query(-1, ge=-1), wait: float = Query(0.0, ge=0.0, le=MAX_WAIT_SECONDS)
    ) -> dict[str, object]:
        return await feed.poll(after, wait, catalog.changes_after)

    @router.get("/internal/tcs/stats")
    async def stats() -> dict[str, object]:
        return catalog.stats()

    return router
