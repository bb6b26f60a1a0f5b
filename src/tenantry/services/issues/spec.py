"""issues as the registry sees it: one per region, a database on each of its shards."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from tenantry.platform.public_routes import PublicRoute
from tenantry.platform.service_spec import Placement, RouterBuilder, ServiceSpec
from tenantry.services.issues.models import SCHEMA
from tenantry.services.issues.personal_data import PERSONAL_DATA

if TYPE_CHECKING:
    from tenantry.platform.asgi import ASGIApp
    from tenantry.platform.runtime import ServiceRuntime


def _create_app(runtime: ServiceRuntime) -> ASGIApp:
    from tenantry.services.issues.app import create_app

    return create_app(runtime)


def _routers() -> Sequence[RouterBuilder]:
    from tenantry.services.issues.attachments import build_attachments_router
    from tenantry.services.issues.internal_routes import build_internal_router
    from tenantry.services.issues.privacy_routes import build_privacy_router
    from tenantry.services.issues.routes import build_router
    from tenantry.services.issues.trash_routes import build_trash_router

    return (
        build_router,
        build_attachments_router,
        build_trash_router,
        build_internal_router,
        build_privacy_router,
    )


PUBLIC_ROUTES = (
    PublicRoute("POST", "/rest/issues/projects", "issues"),
    PublicRoute("GET", "/rest/issues/projects", "issues"),
    PublicRoute("GET", "/rest/issues/projects/{key}", "issues"),
    PublicRoute("DELETE", "/rest/issues/projects/{key}", "issues"),
    PublicRoute("POST", "/rest/issues/issues", "issues"),
    PublicRoute("GET", "/rest/issues/issues", "issues"),
    PublicRoute("GET", "/rest/issues/issues/{key}", "issues"),
    PublicRoute("PATCH", "/rest/issues/issues/{key}", "issues"),
    PublicRoute("DELETE", "/rest/issues/issues/{key}", "issues"),
    PublicRoute("POST", "/rest/issues/issues/{key}/comments", "issues"),
    PublicRoute("GET", "/rest/issues/issues/{key}/comments", "issues"),
    PublicRoute("DELETE", "/rest/issues/issues/{key}/comments/{comment_id}", "issues"),
    PublicRoute("GET", "/rest/issues/trash", "issues"),
    PublicRoute("POST", "/rest/issues/trash/{trash_id}/restore", "issues"),
    PublicRoute("DELETE", "/rest/issues/trash/{trash_id}", "issues"),
    PublicRoute("POST", "/rest/issues/issues/{key}/attachments", "issues", upload=True),
    PublicRoute("GET", "/rest/issues/issues/{key}/attachments", "issues"),
    PublicRoute("DELETE", "/rest/issues/issues/{key}/attachments/{attachment_id}", "issues"),
    PublicRoute("POST", "/rest/issues/issues/{key}/attachments/uploads", "issues"),
    PublicRoute("GET", "/rest/issues/issues/{key}/attachments/uploads/{upload_id}", "issues"),
    PublicRoute(
        "POST", "/rest/issues/issues/{key}/attachments/uploads/{upload_id}/complete", "issues"
    ),
)
"""The URLs of issues that every edge exposes to clients."""


SPEC = ServiceSpec(
    name="issues",
    placement=Placement.REGIONAL,
    create_app=_create_app,
    schema=SCHEMA,
    shard_databases=True,
    routers=_routers,
    personal_data=PERSONAL_DATA,
    loops=frozenset({"attachment-deletions", "trash-purges"}),
    public_routes=PUBLIC_ROUTES,
)
