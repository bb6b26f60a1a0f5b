"""The edge: every public request passes this fixed chain, and any link can refuse it.

normalise + size limits -> user token -> tenant lookup (tcs) -> tenant status -> per-tenant
rate limit -> public route table -> the token's account as it is now (identity) -> transfer
check (`transfers.py`: an edge outside the tenant's home region may forward only for a pair of
regions with a legal basis, and counts what it forwards) -> forward to the tenant's home region,
whichever edge this is, with the account's current role.

Logins are counted by the login throttle: refused before they are forwarded while their account
or address has failed too often, and counted when identity answers 401. The edge's own routes,
`/_edge/tenant_info` and `/openapi.json`, need no token and count against the caller's address.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from typing import Any

import structlog

from tenantry.platform import claims as claim
from tenantry.platform.asgi import Message, Receive, Scope, Send, header, send_error, send_json
from tenantry.platform.change_feed import CHANGE_HEADER
from tenantry.platform.client import ServiceClient, ServiceResponse
from tenantry.platform.context import TenantContext, UserContext
from tenantry.platform.directory import GLOBAL
from tenantry.platform.errors import ApiError
from tenantry.platform.fair_share import FairShare, default_slots
from tenantry.platform.logs import REFUSAL_STATUSES, security_event
from tenantry.platform.public_routes import PublicRoute
from tenantry.platform.request_middleware import RequestMiddleware
from tenantry.platform.runtime import REDIS_URL_ENV, ServiceRuntime
from tenantry.platform.service_auth import CLIENT_ADDRESS_HEADER
from tenantry.platform.tenant_status import require_served, unknown_site
from tenantry.services.edge.account_cache import AccountCache
from tenantry.services.edge.change_feeds import feed_loop
from tenantry.services.edge.login_throttle import REASON as LOGIN_THROTTLED
from tenantry.services.edge.login_throttle import LoginThrottle, account_key
from tenantry.services.edge.media_links import MediaLinks
from tenantry.services.edge.normalise import (
    MAX_BODY_BYTES,
    MAX_MEDIA_BODY_BYTES,
    SITE_PATTERN,
    check_request,
    read_body,
)
from tenantry.services.edge.openapi import OPENAPI_PATH, PublicOpenApi
from tenantry.services.edge.public_routes import PublicRouteTable
from tenantry.services.edge.rate_limits import RateLimits
from tenantry.services.edge.relay import relay
from tenantry.services.edge.security_headers import SECURITY_HEADERS
from tenantry.services.edge.tenant_cache import CachedTenant, TenantCache
from tenantry.services.edge.transfers import TransferCounter
from tenantry.services.edge.user_tokens import UserTokens

SITE_HEADER = b"x-tenantry-site"
_SITE = re.compile(SITE_PATTERN)
_FORWARDED_RESPONSE_HEADERS = ("content-type", "retry-after", "location", "content-disposition")
MAX_RESPONSE_BYTES = 8 * 1024 * 1024
MOVE_WAIT_SECONDS = 2.0
"""How long a write of a moving tenant waits at the edge before 503 `tenant_moving`."""
MOVE_RETRY_SECONDS = 0.05
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
        self.accounts = AccountCache(self.client)
        self.user_tokens = UserTokens(runtime.keys)
        self.media_links = MediaLinks(runtime.keys)
        limits = runtime.topology.edge_limits
        self.limits = RateLimits(limits, os.environ.get(REDIS_URL_ENV))
        self.logins = LoginThrottle(limits, self.limits.storage)
        self.fair_share = FairShare(limits.max_in_flight or default_slots())
        self.routes = PublicRouteTable(runtime.public_routes)
        self.openapi = PublicOpenApi(self.client, runtime.region, self.routes)
        self.feeds = (
            feed_loop("tenant-feed", self.tenants.follower()),
            feed_loop("account-feed", self.accounts.follower()),
        )
        """Follow tcs's and identity's change feeds from start to shutdown."""
        self.transfers = TransferCounter(
            runtime.region, runtime.topology.transfers, self.client, self.tenants
        )
        """Counts requests forwarded out of their site's home region; records them at privacy."""
        self.background_loops = (*(loop.name for loop in self.feeds), self.transfers.loop.name)

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
            if error.status in REFUSAL_STATUSES or error.code == LOGIN_THROTTLED:
                security_event(
                    error.code,
                    service="edge",
                    method=scope["method"],
                    path=scope["path"],
                    client=_peer(scope),
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

        if path in self.routes.anonymous_paths:
            await self._check_client(scope)
            route = self.routes.find(method, path)
            if route.login:
                await self._log_in(scope, receive, send, route)
            else:
                await self._forward(scope, receive, send, route, None, None, None)
            return

        media_route = self.routes.find_media_route(method, path)
        if media_route is not None:
            await self._serve_media(scope, receive, send, media_route)
            return

        claims = self.user_tokens.verify(header(scope, b"authorization"), time.time())
        tenant, context = await self._tenant(scope)
        if claims.get(claim.TENANT) != tenant.cloud_id:
            raise ApiError(403, "token_wrong_site", "this token was issued for another site")
        await self.limits.check_tenant(tenant.cloud_id)
        route = self.routes.find(method, path)
        user = await self._current_user(claims, tenant, context)
        async with self.fair_share.slot(tenant.cloud_id):
            await self._forward(scope, receive, send, route, tenant, context, user)

    async def _current_user(
        self, claims: dict[str, Any], tenant: TenantContext, context: str
    ) -> UserContext:
        """The token's account with its current role; 401 `token_revoked` if the token is.

        Deleting or deactivating the account, a password change (every token of the account)
        and a logout (that one token) revoke tokens; a role change does not, the role simply
        is the new one from now on.
        """
        account_id, token_id = str(claims[claim.USER]), str(claims["jti"])
        generation = claims.get(claim.TOKEN_GENERATION, 0)
        state = await self.accounts.lookup(tenant, context, account_id)
        if (
            state is None
            or not isinstance(generation, int)
            or not state.accepts(generation, token_id)
        ):
            raise ApiError(401, "token_revoked", "this token was revoked; sign in again")
        return UserContext(account_id, state.role, token_id)

    async def _check_client(self, scope: Scope) -> None:
        """Count an anonymous request against the address it came from (the TCP peer)."""
        await self.limits.check_client(_peer(scope))

    async def _log_in(self, scope: Scope, receive: Receive, send: Send, route: PublicRoute) -> None:
        """Forward a login unless its account or address is throttled; count it if it fails."""
        body, headers = await self._body(scope, receive, route)
        account, address = account_key(body), _peer(scope)
        await self.logins.check(account, address)
        response = await self._send_on(scope, route, body, headers, None, None, None)
        if response.status == 401:
            await self.logins.failed(account, address)
        await _respond(send, response)

    async def _serve_media(
        self, scope: Scope, receive: Receive, send: Send, route: PublicRoute
    ) -> None:
        """A plain media link: the media token stands in for the user token and the site header.

        The rest of the chain is the same: tenant status, rate limit, fair share, forwarding to
        the tenant's home region. Media checks the token's collection and action itself.
        """
        named = self.media_links.verify(scope["query_string"])
        site = header(scope, SITE_HEADER)
        if site is not None and site != named.site:
            raise ApiError(403, "media_token_wrong_site", "this media token is for another site")
        tenant, context = await self._tenant(scope, named.site)
        if tenant.cloud_id != named.tenant:
            raise ApiError(403, "media_token_wrong_site", "this media token is for another site")
        await self.limits.check_tenant(tenant.cloud_id)
        user = None
        if named.account is not None:
            # The link acts for the account it was made for, with that account's role now.
            state = await self.accounts.lookup(tenant, context, named.account)
            if state is None or not state.active:
                raise ApiError(401, "token_revoked", "the account of this link is gone")
            user = UserContext(named.account, state.role)
        async with self.fair_share.slot(tenant.cloud_id):
            await self._forward(scope, receive, send, route, tenant, context, user)

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
            raise unknown_site(site)
        if "tenantry" in scope:  # the request log line names the tenant by its cloud id
            scope["tenantry"]["tenant_id"] = tenant.cloud_id
        require_served(tenant)
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
        if tenant is not None and route.regional:
            # The site's data leaves its home region when this edge is in another: refused
            # (451) for a pair without a legal basis, and counted as a transfer either way.
            self.transfers.check(tenant, route.service)
        body, headers = await self._body(scope, receive, route)
        if route.media_token and scope["method"] == "GET":
            async with self.client.stream(
                route.service,
                "GET",
                _path(scope),
                headers=headers,
                region=_region(route, tenant),
                tenant_context=context,
                tenant_id=tenant.cloud_id if tenant is not None else None,
                user=user,
            ) as streamed:
                await relay(send, streamed, _FORWARDED_RESPONSE_HEADERS)
            return
        response = await self._send_on(scope, route, body, headers, tenant, context, user)
        if tenant is not None and _moving(response):
            response = await self._through_move(scope, route, body, headers, tenant, user)
        change = response.headers.get(CHANGE_HEADER)
        if route.service == "identity" and change is not None and change.isdigit():
            # The request changed an account: answer once this edge acts on the change.
            await self.accounts.caught_up(int(change))
        await _respond(send, response)

    async def _through_move(
        self,
        scope: Scope,
        route: PublicRoute,
        body: bytes,
        headers: dict[str, str],
        tenant: TenantContext,
        user: UserContext | None,
    ) -> ServiceResponse:
        """Send again a write that a moving tenant's shard refused, until it is taken.

        The shard refuses the tenant's writes while its last changes are copied, and for good
        once the catalog names the new shard: each try looks the tenant up afresh, so it
        reaches the new home as soon as tcs names it. A refused write changed nothing, so
        sending it again cannot double it. Past `MOVE_WAIT_SECONDS` the refusal is the answer
        (503 `tenant_moving` with Retry-After).
        """
        deadline = time.monotonic() + MOVE_WAIT_SECONDS
        while True:
            await asyncio.sleep(MOVE_RETRY_SECONDS)
            self.tenants.evict(tenant.site)
            tenant, context = await self._tenant(scope, tenant.site)
            response = await self._send_on(scope, route, body, headers, tenant, context, user)
            if not _moving(response) or time.monotonic() >= deadline:
                return response

    async def _body(
        self, scope: Scope, receive: Receive, route: PublicRoute
    ) -> tuple[bytes, dict[str, str]]:
        """The request's body, within the route's limit, and the headers to forward with it."""
        uploads = route.service == "media" or route.upload
        limit = MAX_MEDIA_BODY_BYTES if uploads else MAX_BODY_BYTES
        body = await read_body(scope, receive, header(scope, b"content-length"), limit)
        headers = {CLIENT_ADDRESS_HEADER: _peer(scope)}
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
        return body, headers

    async def _send_on(
        self,
        scope: Scope,
        route: PublicRoute,
        body: bytes,
        headers: dict[str, str],
        tenant: TenantContext | None,
        context: str | None,
        user: UserContext | None,
    ) -> ServiceResponse:
        """Forward the request to the service that owns the route; its whole answer."""
        return await self.client.send(
            route.service,
            scope["method"],
            _path(scope),
            body=body,
            headers=headers,
            region=_region(route, tenant),
            tenant_context=context,
            tenant_id=tenant.cloud_id if tenant is not None else None,
            user=user,
            max_response_bytes=MAX_MEDIA_RESPONSE_BYTES
            if route.media_token
            else MAX_RESPONSE_BYTES,
        )

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                for feed in self.feeds:
                    await feed.start()
                await self.transfers.loop.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for feed in self.feeds:
                    await feed.stop()
                await self.transfers.loop.stop()
                await self._last_transfers()
                await self.client.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _last_transfers(self) -> None:
        """Record the counts still held at shutdown, if privacy answers in time."""
        try:
            await asyncio.wait_for(self.transfers.flush(), timeout=5.0)
        except Exception as exc:
            log.warning("transfer_counts_lost", error_type=type(exc).__name__)


def _moving(response: ServiceResponse) -> bool:
    """Whether the answer is a moving tenant's shard refusing a write (503 `tenant_moving`)."""
    if response.status != 503:
        return False
    try:
        document = response.json()
    except ValueError:
        return False
    return isinstance(document, dict) and document.get("error") == "tenant_moving"


def _peer(scope: Scope) -> str:
    """The address the request came from: the TCP peer (a forwarded-for header is never
    believed)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _path(scope: Scope) -> str:
    path = str(scope["path"])
    if scope["query_string"]:
        path += "?" + scope["query_string"].decode("latin-1")
    return path


def _region(route: PublicRoute, tenant: TenantContext | None) -> str:
    return tenant.region if (tenant is not None and route.regional) else GLOBAL


async def _respond(send: Send, response: ServiceResponse) -> None:
    """Answer the client with a service's whole answer (its status, body and chosen headers)."""
    out_headers = [
        (name.encode(), response.headers[name].encode())
        for name in _FORWARDED_RESPONSE_HEADERS
        if name in response.headers
    ]
    out_headers.append((b"content-length", str(len(response.body)).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": out_headers})
    await send({"type": "http.response.body", "body": response.body})


def create_app(runtime: ServiceRuntime) -> RequestMiddleware:
    """The edge ASGI app for a runtime loaded by `tenantry serve edge`."""
    return RequestMiddleware(Edge(runtime), service="edge")
