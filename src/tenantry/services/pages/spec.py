"""pages as the registry sees it: one per region, a database on each of its shards."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from tenantry.platform.public_routes import PublicRoute
from tenantry.platform.service_spec import Placement, RouterBuilder, ServiceSpec
from tenantry.services.pages.models import SCHEMA
from tenantry.services.pages.personal_data import PERSONAL_DATA

if TYPE_CHECKING:
    from tenantry.platform.asgi import ASGIApp
    from tenantry.platform.runtime import ServiceRuntime


def _create_app(runtime: ServiceRuntime) -> ASGIApp:
    from tenantry.services.pages.app import create_app

    return create_app(runtime)


def _routers() -> Sequence[RouterBuilder]:
    from tenantry.services.pages.internal_routes import build_internal_router
    from tenantry.services.pages.privacy_routes import build_privacy_router
    from tenantry.services.pages.routes import build_router
    from tenantry.services.pages.trash_routes import build_trash_router

    return (build_router, build_trash_router, build_internal_router, build_privacy_router)


PUBLIC_ROUTES = (
    PublicRoute("POST", "/rest/pages/spaces", "pages"),
    PublicRoute("GET", "/rest/pages/spaces", "pages"),
    PublicRoute("GET", "/rest/pages/spaces/{key}/tree", "pages"),
    PublicRoute("POST", "/rest/pages/pages", "pages"),
    PublicRoute("GET", "/rest/pages/pages/{page_id}", "pages"),
    PublicRoute("PUT", "/rest/pages/pages/{page_id}", "pages"),
    PublicRoute("DELETE", "/rest/pages/pages/{page_id}", "pages"),
    PublicRoute("POST", "/rest/pages/pages/{page_id}/move", "pages"),
    PublicRoute("GET", "/rest/pages/pages/{page_id}/versions", "pages"),
    PublicRoute("GET", "/rest/pages/pages/{page_id}/versions/{number}", "pages"),
    PublicRoute("POST", "/rest/pages/pages/{page_id}/versions/{number}/restore", "pages"),
    PublicRoute("GET", "/rest/pages/pages/{page_id}/diff", "pages"),
    PublicRoute("GET", "/rest/pages/search", "pages"),
    PublicRoute("GET", "/rest/pages/trash", "pages"),
    PublicRoute("POST", "/rest/pages/trash/{page_id}/restore", "pages"),
    PublicRoute("DELETE", "/rest/pages/trash/{page_id}", "pages"),
)
"""The URLs of pages that every edge exposes to clients."""


SPEC = ServiceSpec(
    name="pages",
    placement=Placement.REGIONAL,
    create_app=_create_app,
    schema=SCHEMA,
    shard_databases=True,
    routers=_routers,
    personal_data=PERSONAL_DATA,
    public_routes=PUBLIC_ROUTES,
    loops=frozenset({"page-views-flush", "page-views", "trash-purges"}),
)
