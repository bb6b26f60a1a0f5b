"""audit as the registry sees it: one per region, its logs on every shard."""

from __future__ import annotations

from collections.abc import Sequence

from tenantry.platform.asgi import ASGIApp
from tenantry.platform.public_routes import PublicRoute
from tenantry.platform.runtime import ServiceRuntime
from tenantry.platform.service_spec import Placement, RouterBuilder, ServiceSpec
from tenantry.services.audit.models import SCHEMA
from tenantry.services.audit.personal_data import PERSONAL_DATA


def _create_app(runtime: ServiceRuntime) -> ASGIApp:
    from tenantry.services.audit.app import create_app

    return create_app(runtime)


def _routers() -> Sequence[RouterBuilder]:
    from tenantry.services.audit.operator_routes import build_operator_router
    from tenantry.services.audit.receipt_routes import build_receipt_router
    from tenantry.services.audit.routes import build_router

    return (build_router, build_receipt_router, build_operator_router)


PUBLIC_ROUTES = (
    PublicRoute("GET", "/rest/audit/events", "audit"),
    PublicRoute("GET", "/rest/audit/checkpoint", "audit"),
    PublicRoute("GET", "/rest/audit/proof/inclusion", "audit"),
    PublicRoute("GET", "/rest/audit/proof/consistency", "audit"),
)
"""The URLs of audit that every edge exposes to clients."""


SPEC = ServiceSpec(
    name="audit",
    placement=Placement.REGIONAL,
    create_app=_create_app,
    schema=SCHEMA,
    shard_databases=True,
    routers=_routers,
    personal_data=PERSONAL_DATA,
    loops=frozenset({"audit-checkpoints"}),
    public_routes=PUBLIC_ROUTES,
)
