"""Build a tenantry service as an ASGI app with the platform's controls always on.

Every service gets the same outer layers, in this order: request id, metrics and log line; then
service-token authentication, the allowlist and the tenant context; then the per-tenant
concurrency cap; then the service's own routes. Health, readiness and metrics endpoints are
added here, so no service forgets them, and so is the end of the service's life: its background
loops start after its startup hooks and stop before its shutdown hooks, and then its clients and
databases are closed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from starlette.responses import JSONResponse, Response

from tenantry.platform import metrics
from tenantry.platform.background import BackgroundLoop
from tenantry.platform.client import ServiceClient
from tenantry.platform.http_errors import install_error_handlers
from tenantry.platform.openapi import install_error_shape
from tenantry.platform.request_middleware import RequestMiddleware
from tenantry.platform.runtime import ServiceRuntime
from tenantry.platform.service_auth import ServiceAuthMiddleware
from tenantry.platform.storage.databases import Databases
from tenantry.platform.tenant_concurrency import DEFAULT_CAP, TenantConcurrencyMiddleware

Hook = Callable[[], Awaitable[None]]


def create_service_app(
    runtime: ServiceRuntime,
    routers: Sequence[APIRouter],
    *,
    on_startup: Sequence[Hook] = (),
    on_shutdown: Sequence[Hook] = (),
    loops: Sequence[BackgroundLoop] = (),
    clients: Sequence[ServiceClient] = (),
    databases: Sequence[Databases] = (),
    ready: Callable[[], bool] = lambda: True,
    public_prefixes: tuple[str, ...] = (),
    per_tenant_concurrency: int = DEFAULT_CAP,
    serves_inactive_tenants: bool = False,
) -> FastAPI:
    """Assemble one service: its routers behind the platform's middleware and endpoints.

    Paths under `public_prefixes` skip service authentication; only what must be reachable
    without a token (public keys) belongs there. No tenant may have more than
    `per_tenant_concurrency` requests in flight in this process; the rest are refused with 503.
    A service that `serves_inactive_tenants` (audit, which records what happens to suspended
    and deleted sites too) takes calls in a tenant's context whatever the tenant's status.
    """

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        for hook in on_startup:
            await hook()
        for loop in loops:
            await loop.start()
        yield
        for loop in loops:
            await loop.stop()
        for hook in on_shutdown:
            await hook()
        for client in clients:
            await client.close()
        for database in databases:
            database.dispose()

    app = FastAPI(
        title=f"tenantry {runtime.service}",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.background_loops = tuple(loop.name for loop in loops)
    install_error_handlers(app)
    install_error_shape(app)

    @app.get("/_health", include_in_schema=False)
    async def health() -> dict[str, str]:
        return {"status": "ok", "service": runtime.service, "region": runtime.region}

    @app.get("/_ready", include_in_schema=False)
    async def readiness() -> Response:
        if ready():
            return JSONResponse({"status": "ready"})
        return JSONResponse({"error": "not_ready", "message": "starting"}, status_code=503)

    @app.get("/_metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        payload, content_type = metrics.render()
        return Response(payload, media_type=content_type)

    for router in routers:
        app.include_router(router)

    if per_tenant_concurrency < 1:
        raise ValueError("per_tenant_concurrency must be at least 1")
    # Starlette wraps in reverse order: added first runs innermost, after the tenant is known.
    app.add_middleware(
        TenantConcurrencyMiddleware, service=runtime.service, cap=per_tenant_concurrency
    )
    app.add_middleware(
        ServiceAuthMiddleware,
        service=runtime.service,
        region=runtime.region,
        tokens=runtime.tokens,
        policy=runtime.policy,
        tenant_contexts=runtime.tenant_contexts,
        public_prefixes=public_prefixes,
        serves_inactive_tenants=serves_inactive_tenants,
    )
    app.add_middleware(RequestMiddleware, service=runtime.service)
    return app
