"""notes as the registry sees it: one per region, a database on each of the region's shards.

The app and routers are imported only when asked for, so reading the registry stays cheap.
"""

from __future__ import annotations

from collections.abc import Sequence

from notes_service.models import SCHEMA
from tenantry.platform.asgi import ASGIApp
from tenantry.platform.runtime import ServiceRuntime
from tenantry.platform.service_spec import Placement, RouterBuilder, ServiceSpec


def _create_app(runtime: ServiceRuntime) -> ASGIApp:
    from notes_service.app import create_app

    return create_app(runtime)


def _routers() -> Sequence[RouterBuilder]:
    from notes_service.routes import build_router

    return (build_router,)


SPEC = ServiceSpec(
    name="notes",
    placement=Placement.REGIONAL,
    create_app=_create_app,
    schema=SCHEMA,
    shard_databases=True,
    routers=_routers,
)
