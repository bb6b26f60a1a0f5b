"""identity as the registry sees it: global, on the global database, signing user tokens."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from tenantry.platform.public_routes import PublicRoute
from tenantry.platform.service_spec import Placement, RouterBuilder, ServiceSpec
from tenantry.services.identity.models import SCHEMA
from tenantry.services.identity.personal_data import PERSONAL_DATA

if TYPE_CHECKING:
    from tenantry.platform.asgi import ASGIApp
    from tenantry.platform.runtime import ServiceRuntime


def _create_app(runtime: ServiceRuntime) -> ASGIApp:
    from tenantry.services.identity.app import create_app

    return create_app(runtime)


def _routers() -> Sequence[RouterBuilder]:
    from tenantry.services.identity.account_changes import build_feed_router
    from tenantry.services.identity.internal_routes import build_internal_router
    from tenantry.services.identity.key_server import build_key_router
    from tenantry.services.identity.privacy_routes import build_privacy_router
    from tenantry.services.identity.routes import build_router

    return (
        build_router,
        build_feed_router,
        build_key_router,
        build_internal_router,
        build_privacy_router,
    )


PUBLIC_ROUTES = (
    PublicRoute("POST", "/signup", "identity", needs_user=False, regional=False),
    PublicRoute("POST", "/login", "identity", needs_user=False, regional=False, login=True),
    PublicRoute("POST", "/logout", "identity", regional=False),
    PublicRoute("GET", "/rest/identity/me", "identity", regional=False),
    PublicRoute("POST", "/rest/identity/me/password", "identity", regional=False),
    PublicRoute("GET", "/rest/identity/accounts", "identity", regional=False),
    PublicRoute("POST", "/rest/identity/accounts", "identity", regional=False),
    PublicRoute("PATCH", "/rest/identity/accounts/{account_id}", "identity", regional=False),
    PublicRoute("DELETE", "/rest/identity/accounts/{account_id}", "identity", regional=False),
    PublicRoute("POST", "/rest/identity/accounts/{account_id}/restore", "identity", regional=False),
)
"""The URLs of identity that every edge exposes to clients."""


SPEC = ServiceSpec(
    name="identity",
    placement=Placement.GLOBAL,
    create_app=_create_app,
    schema=SCHEMA,
    global_database=True,
    routers=_routers,
    personal_data=PERSONAL_DATA,
    loops=frozenset({"kms-notices", "account-erasures", "audit-outbox"}),
    public_routes=PUBLIC_ROUTES,
)
