"""tcs as the registry sees it: global, its catalog on the global database."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from tenantry.platform.service_spec import Placement, RouterBuilder, ServiceSpec
from tenantry.services.tcs.catalog import SCHEMA
from tenantry.services.tcs.personal_data import PERSONAL_DATA

if TYPE_CHECKING:
    from tenantry.platform.asgi import ASGIApp
    from tenantry.platform.runtime import ServiceRuntime


def _create_app(runtime: ServiceRuntime) -> ASGIApp:
    from tenantry.services.tcs.app import create_app

    return create_app(runtime)


def _routers() -> Sequence[RouterBuilder]:
    from tenantry.services.tcs.legal_routes import build_legal_router
    from tenantry.services.tcs.routes import build_router

    return (build_router, build_legal_router)


SPEC = ServiceSpec(
    name="tcs",
    placement=Placement.GLOBAL,
    create_app=_create_app,
    schema=SCHEMA,
    global_database=True,
    routers=_routers,
    personal_data=PERSONAL_DATA,
    loops=frozenset({"site-purges", "audit-outbox"}),
)
