"""analytics as the registry sees it: one per region, a database on each of its shards."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from tenantry.platform.public_routes import PublicRoute
from tenantry.platform.service_spec import Placement, RouterBuilder, ServiceSpec
from tenantry.services.analytics.models import SCHEMA
from tenantry.services.analytics.personal_data import PERSONAL_DATA

if TYPE_CHECKING:
    from tenantry.platform.asgi import ASGIApp
    from tenantry.platform.runtime import ServiceRuntime


def _create_app(runtime: ServiceRuntime) -> ASGIApp:
    from tenantry.services.analytics.app import create_app

    return create_app(runtime)


def _routers() -> Sequence[RouterBuilder]:
    from tenantry.services.analytics.internal_routes import build_internal_router
    from tenantry.services.analytics.privacy_routes import build_privacy_router
    from tenantry.services.analytics.routes import build_router

    return (build_router, build_internal_router, build_privacy_router)


PUBLIC_ROUTES = (
    PublicRoute("GET", "/rest/analytics/pages/{page_id}", "analytics"),
    PublicRoute("GET", "/rest/analytics/spaces/{key}", "analytics"),
)
"""The URLs of analytics that every edge exposes to clients."""


SPEC = ServiceSpec(
    name="analytics",
    placement=Placement.REGIONAL,
    create_app=_create_app,
    schema=SCHEMA,
    shard_databases=True,
    routers=_routers,
    personal_data=PERSONAL_DATA,
    public_routes=PUBLIC_ROUTES,
    loops=frozenset({"analytics-retention"}),
)
