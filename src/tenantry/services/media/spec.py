"""media as the registry sees it: one per region, a database per shard, and the media store,
whose settings (`TENANTRY_MEDIA_*`) reach media's processes only."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from tenantry.platform.public_routes import PublicRoute
from tenantry.platform.service_spec import Placement, RouterBuilder, ServiceSpec
from tenantry.services.media.models import SCHEMA
from tenantry.services.media.personal_data import PERSONAL_DATA

if TYPE_CHECKING:
    from tenantry.platform.asgi import ASGIApp
    from tenantry.platform.runtime import ServiceRuntime

ENV_PREFIX = "TENANTRY_MEDIA_"


def _create_app(runtime: ServiceRuntime) -> ASGIApp:
    from tenantry.services.media.app import create_app

    return create_app(runtime)


def _routers() -> Sequence[RouterBuilder]:
    from tenantry.services.media.blob_moves import build_blob_move_router
    from tenantry.services.media.privacy_routes import build_privacy_router
    from tenantry.services.media.reseal import build_reseal_router
    from tenantry.services.media.routes import build_router

    return (build_router, build_reseal_router, build_blob_move_router, build_privacy_router)


def _by_token(method: str, path: str) -> PublicRoute:
    """A route authorised by a media token in `?token=`, so a plain link works."""
    return PublicRoute(method, "/rest/media/" + path, "media", needs_user=False, media_token=True)


PUBLIC_ROUTES = (
    PublicRoute("GET", "/rest/media/settings", "media"),
    PublicRoute("PUT", "/rest/media/settings", "media"),
    PublicRoute("PATCH", "/rest/media/settings", "media"),
    _by_token("POST", "collections/{collection}/files"),
    _by_token("GET", "collections/{collection}/files"),
    _by_token("POST", "collections/{collection}/uploads"),
    _by_token("GET", "uploads/{upload_id}"),
    _by_token("PUT", "uploads/{upload_id}/chunks/{index}"),
    _by_token("POST", "uploads/{upload_id}/complete"),
    _by_token("DELETE", "uploads/{upload_id}"),
    _by_token("GET", "files/{file_id}"),
    _by_token("PATCH", "files/{file_id}"),
    _by_token("GET", "files/{file_id}/content"),
    _by_token("GET", "files/{file_id}/preview/{page}"),
    _by_token("GET", "files/{file_id}/thumbnail"),
    _by_token("DELETE", "files/{file_id}"),
)
"""The URLs of media that every edge exposes to clients."""


SPEC = ServiceSpec(
    name="media",
    placement=Placement.REGIONAL,
    create_app=_create_app,
    schema=SCHEMA,
    shard_databases=True,
    routers=_routers,
    private_env_prefix=ENV_PREFIX,
    personal_data=PERSONAL_DATA,
    loops=frozenset({"preview-requeue", "blob-retirements", "audit-outbox"}),
    public_routes=PUBLIC_ROUTES,
)
