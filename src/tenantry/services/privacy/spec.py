"""privacy as the registry sees it: one per region, its requests on every shard, and a second
copy of its erasure ledger in its global database (see `models.ErasureLedgerEntry`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from tenantry.platform.public_routes import PublicRoute
from tenantry.platform.service_spec import Placement, RouterBuilder, ServiceSpec
from tenantry.services.privacy.models import SCHEMA
from tenantry.services.privacy.personal_data import PERSONAL_DATA

if TYPE_CHECKING:
    from tenantry.platform.asgi import ASGIApp
    from tenantry.platform.runtime import ServiceRuntime


def _create_app(runtime: ServiceRuntime) -> ASGIApp:
    from tenantry.services.privacy.app import create_app

    return create_app(runtime)


def _routers() -> Sequence[RouterBuilder]:
    from tenantry.services.privacy.routes import build_router

    return (build_router,)


PUBLIC_ROUTES = (
    PublicRoute("POST", "/rest/privacy/exports", "privacy"),
    PublicRoute("GET", "/rest/privacy/exports/{export_id}", "privacy"),
    PublicRoute("POST", "/rest/privacy/erasures", "privacy"),
    PublicRoute("GET", "/rest/privacy/transfers", "privacy"),
)
"""The URLs of privacy that every edge exposes to clients."""


SPEC = ServiceSpec(
    name="privacy",
    placement=Placement.REGIONAL,
    create_app=_create_app,
    schema=SCHEMA,
    shard_databases=True,
    global_database=True,
    routers=_routers,
    personal_data=PERSONAL_DATA,
    loops=frozenset({"audit-outbox"}),
    public_routes=PUBLIC_ROUTES,
)
