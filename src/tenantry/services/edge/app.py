"""The edge: every public request passes this fixed chain, and any link can refuse it.

normalise + size limits -> user token -> tenant lookup (tcs) -> tenant status -> per-tenant
rate limit -> public route table -> forward to the tenant's home region, whichever edge this is.
Its own routes, `/_edge/tenant_info` and `/openapi.json`, need no token and count against the
caller's address.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import time

import structlog

from tenantry.platform import claims as claim
from tenantry.platform.asgi import Message, Receive, Scope, Send, header, send_error, send_json
from tenantry.platform.client import ServiceClient, ServiceResponse
from tenantry.platform.context import TenantContext, UserContext
from tenantry.platform.directory import GLOBAL
from tenantry.platform.errors import ApiError
from tenantry.platform.logs import REFUSAL_STATUSES, security_event
from tenantry.platform.request_middleware import RequestMiddleware
from tenantry.platform.runtime import REDIS_URL_ENV, ServiceRuntime
from tenantry.services.edge.fair_share import FairShare, default_slots
from tenantry.services.edge.media_tokens import MediaTokens
from tenantry.services.edge.normalise import (
    MAX_BODY_BYTES,
    MAX_MEDIA_BODY_BYTES,
    SITE_PATTERN,
    check_request,
    read_body,
)
from tenantry.services.edge.openapi import OPENAPI_PATH, PublicOpenApi
from tenantry.services.edge.public_routes import (
    ANONYMOUS_PATHS,
    PublicRoute,
    find_media_route,
    find_route,
)
from tenantry.services.edge.rate_limits import RateLimits
from tenantry.services.edge.relay import relay
from tenantry.services.edge.security_headers import SECURITY_HEADERS
from tenantry.services.edge.tenant_cache import CachedTenant, TenantCache
from tenantry.services.edge.user_tokens import UserTokens

SITE_HEADER = b"x-tenantry-site"
_SITE = re.compile(SITE_PATTERN)
_FORWARDED_RESPONSE_HEADERS = ("content-type", "retry-after", "location", "content-disposition")
MAX_RESPONSE_BYTES = 8 * 1024 * 1024
log = structlog.get_logger("tenantry.edge")
MAX_MEDIA_RESPONSE_BYTES = 8 * 1024 * 1024
"""Media answers other than GETs (uploads, renames, deletes) are small JSON, buffered whole;
media GETs (downloads, previews) are relayed piece by piece, whatever their size."""


class Edge:
    """The edge's ASGI application (wrapped by the platform's request middleware)."""

    def __init__(self, runtime: ServiceRuntime) -> None:
        self.region = runtime.region
        self.client = ServiceClient(runtime.signer, runtime.directory)
        self.tenants = TenantCache(self.client)
        self.user_tokens = UserTokens(runtime.keys)
        self.media_tokens = MediaTokens(runtime.keys)
        self.limits = RateLimits(runtime.topology.edge_limits, os.environ.get(REDIS_URL_ENV))
        self.fair_share = FairShare(runtime.topology.edge_limits.max_in_flight or default_slots())
        self.openapi = PublicOpenApi(self.client, runtime.region)
        self._watcher: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return

        started = False

        async def secure_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", ()), *SECURITY_HEADERS]
            await send(message)

        try:
            await self._serve(scope, receive, secure_send)
        except ApiError as error:
            if error.status in REFUSAL_STATUSES:
                security_event(
                    error.code, service="edge", method=scope["method"], path=scope["path"]
                )
            await send_error(secure_send, error)
        except Exception as exc:
            # A bug, not the client's doing: still the one error shape, never a plain-text 500.
            log.exception("unhandled_error", error_type=type(exc).__name__)
            if started:
                raise
            await send_error(
                secure_send, ApiError(500, "internal_error", "an unexpected error occurred")
            )

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        check_request(scope)
        path, method = scope["path"], scope["method"]
        if path == "/_health" and method == "GET":
            await send_json(send, 200, {"status": "ok", "service": "edge", "region": self.region})
            return
        if path == "/_edge/tenant_info" and method == "GET":
            # Anonymous, so counted against the caller's address: no enumerating sites.
            await self._check_client(scope)
            tenant = (await self._tenant(scope))[0]
            await send_json(send, 200, {"cloud_id": tenant.cloud_id, "region": tenant.region})
            return
        if path == OPENAPI_PATH and method == "GET":
            await self._check_client(scope)
            await send_json(send, 200, await self.openapi.document())
            return

        if path in ANONYMOUS_PATHS:
            await self._check_client(scope)
            route = find_route(method, path)
            await self._forward(scope, receive, send, route, None, None, None)
            return

        media_route = find_media_route(method, path)
        if media_route is not None:
            await self._serve_media(scope, receive, send, media_route)
            return

        claims = self.user_tokens.verify(header(scope, b"authorization"), time.time())
        tenant, context = await self._tenant(scope)
        if claims.get(claim.TENANT) != tenant.cloud_id:
            raise ApiError(403, "token_wrong_site", "this token was issued for another site")
        await self.limits.check_tenant(tenant.cloud_id)
        route = find_route(method, path)
        user = UserContext(str(claims[claim.USER]), str(claims.get(claim.ROLE, "user")))
        async with self.fair_share.slot(tenant.cloud_id):
            await self._forward(scope, receive, send, route, tenant, context, user)

    async def _check_client(self, scope: Scope) -> None:
        """Count an anonymous request against the address it came from (the TCP peer)."""
        client = scope.get("client")
        await self.limits.check_client(client[0] if client else "unknown")

    async def _serve_media(
        self, scope: Scope, receive: Receive, send: Send, route: PublicRoute
    ) -> None:
        """A plain media link: the media token stands in for the user token and the site header.

        The rest of the chain is the same: tenant status, rate limit, fair share, forwarding to
        the tenant's home region. Media checks the token's collection and action itself.
        """
        named = self.media_tokens.verify(scope["query_string"])
        site = header(scope, SITE_HEADER)
        if site is not None and site != named.site:
            raise ApiError(403, "media_token_wrong_site", "this media token is for another site")
        tenant, context = await self._tenant(scope, named.site)
        if tenant.cloud_id != named.tenant:
            raise ApiError(403, "media_token_wrong_site", "this media token is for another site")
        await self.limits.check_tenant(tenant.cloud_id)
        async with self.fair_share.slot(tenant.cloud_id):
            await self._forward(scope, receive, send, route, tenant, context, None)

    async def _tenant(self, scope: Scope, site: str | None = None) -> tuple[TenantContext, str]:
        """Resolve the request's site (or `site`) to an active tenant, or refuse."""
        site = site or header(scope, SITE_HEADER)
        if site is None:
            raise ApiError(400, "site_required", "name the site with the X-Tenantry-Site header")
        if not _SITE.match(site):
            raise ApiError(400, "invalid_site", "the site name is not valid")
        entry: CachedTenant = await self.tenants.lookup(site)
        tenant = entry.tenant
        if tenant is None:
            raise ApiError(404, "unknown_site", f"there is no site {site!r}")
        if "tenantry" in scope:  # the request log line names the tenant by its cloud id
            scope["tenantry"]["tenant_id"] = tenant.cloud_id
        if tenant.status == "suspended":
            raise ApiError(403, "tenant_suspended", "this site is suspended")
        if tenant.status == "moving":
            raise ApiError(503, "tenant_moving", "this site is moving", {"Retry-After": "1"})
        if tenant.status != "active":
            raise ApiError(404, "unknown_site", f"there is no site {site!r}")
        if not tenant.key_available:
            raise ApiError(
                503,
                "tenant_key_unavailable",
                "this site's encryption key is disabled or revoked by its owner",
                {"Retry-After": "5"},
            )
        return tenant, entry.context

    async def _forward(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        route: PublicRoute,
        tenant: TenantContext | None,
        context: str | None,
        user: UserContext | None,
    ) -> None:
        uploads = route.service == "media" or route.upload
        limit = MAX_MEDIA_BODY_BYTES if uploads else MAX_BODY_BYTES
        body = await read_body(scope, receive, header(scope, b"content-length"), limit)
        headers = {}
        if body and route.media_token:
            headers["content-type"] = header(scope, b"content-type") or "application/octet-stream"
        elif body and route.upload:
            content_type = header(scope, b"content-type") or ""
            if content_type.split(";", 1)[0].strip().lower() != "multipart/form-data":
                raise ApiError(415, "unsupported_media_type", "send files as multipart/form-data")
            headers["content-type"] = content_type
        elif body:
            content_type = header(scope, b"content-type") or ""
            if content_type.split(";", 1)[0].strip().lower() != "application/json":
                raise ApiError(415, "unsupported_media_type", "send the body as application/json")
            headers["content-type"] = "application/json"
        path = scope["path"]
        if scope["query_string"]:
            path += "?" + scope["query_string"].decode("latin-1")
        region = tenant.region if (tenant is not None and route.regional) else GLOBAL
        if route.media_token and scope["method"] == "GET":
            async with self.client.stream(
                route.service,
                "GET",
                path,
                headers=headers,
                region=region,
                tenant_context=context,
                tenant_id=tenant.cloud_id if tenant is not None else None,
            ) as streamed:
                await relay(send, streamed, _FORWARDED_RESPONSE_HEADERS)
            return
        response: ServiceResponse = await self.client.send(
            route.service,
            scope["method"],
            path,
            body=body,
            headers=headers,
            region=region,
            tenant_context=context,
            tenant_id=tenant.cloud_id if tenant is not None else None,
            user=user,
            max_response_bytes=MAX_MEDIA_RESPONSE_BYTES
            if route.media_token
            else MAX_RESPONSE_BYTES,
        )
        out_headers = [
            (name.encode(), response.headers[name].encode())
            for name in _FORWARDED_RESPONSE_HEADERS
            if name in response.headers
        ]
        out_headers.append((b"content-length", str(len(response.body)).encode()))
        await send(
            {"type": "http.response.start", "status": response.status, "headers": out_headers}
        )
        await send({"type": "http.response.body", "body": response.body})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._watcher = asyncio.create_task(self.tenants.watch())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._watcher is not None:
                    self._watcher.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await self._watcher
                await self.client.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


def create_app(runtime: ServiceRuntime) -> RequestMiddleware:
    """The edge ASGI app for a runtime loaded by `tenantry serve edge`."""
    return RequestMiddleware(Edge(runtime), service="edge")
