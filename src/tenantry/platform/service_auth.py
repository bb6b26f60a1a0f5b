"""Authenticate and authorize every call a service receives, then set the request's context.

Order: a single-use service token (ASAP) -> the allowlist entry for caller, callee, method and
path -> the tcs-signed tenant context, which must name the same tenant as the token and live in
this service's region. Only then are the tenant and user put into contextvars for the handler.

A call from a service in the same process carries no token: the in-process transport names its
caller in the request scope (`InProcessCall`), where nothing from the network can put one. It
stands in for the token alone; the allowlist and the tenant context are checked just the same.

The address of the client a request came from is believed only from the edge (its service token
proves the caller), in the `x-tenantry-client-address` header; from anyone else it is ignored.
"""

from __future__ import annotations

import ipaddress
import time
from typing import Any

from tenantry.platform import claims as claim
from tenantry.platform.asgi import ASGIApp, Receive, Scope, Send, header, send_error
from tenantry.platform.context import (
    TenantContext,
    UserContext,
    current_caller,
    current_client_address,
    current_tenant,
    current_tenant_token,
    current_user,
)
from tenantry.platform.directory import GLOBAL
from tenantry.platform.errors import ApiError
from tenantry.platform.in_process import IN_PROCESS_CALL, InProcessCall
from tenantry.platform.logs import REFUSAL_STATUSES, security_event
from tenantry.platform.policy import Policy
from tenantry.platform.tenant_context import HEADER as TENANT_CONTEXT_HEADER
from tenantry.platform.tenant_context import TenantContextVerifier
from tenantry.platform.tokens import TokenError, TokenVerifier

OPEN_PATHS = frozenset({"/_health", "/_ready", "/_metrics"})
CLIENT_ADDRESS_HEADER = "x-tenantry-client-address"
"""Where the edge names the address of the client it received a request from."""
EDGE = "edge"
"""The only caller whose word on the client's address is taken."""
RESTORING = "restoring"
CONTROL_PLANE = frozenset({"operator", "tcs"})
"""Callers that act on a tenant whatever its status (suspending, deleting, purging it), short of
purged; every other caller acts only for an active tenant."""
PURGED = "purged"


class ServiceAuthMiddleware:
    """Refuse any call that is not signed, allowlisted and consistent about its tenant."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        service: str,
        region: str,
        tokens: TokenVerifier,
        policy: Policy,
        tenant_contexts: TenantContextVerifier,
        public_prefixes: tuple[str, ...] = (),
        serves_inactive_tenants: bool = False,
    ) -> None:
        self.app = app
        self.serves_inactive_tenants = serves_inactive_tenants
        self.public_prefixes = public_prefixes
        self.service = service
        self.region = region
        self.tokens = tokens
        self.policy = policy
        self.tenant_contexts = tenant_contexts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] != "http"
            or path in OPEN_PATHS
            or (self.public_prefixes and path.startswith(self.public_prefixes))
        ):
            await self.app(scope, receive, send)
            return
        try:
            tenant, user, client, caller = await self._authorize(scope)
        except ApiError as error:
            if error.status in REFUSAL_STATUSES:
                security_event(
                    error.code,
                    service=self.service,
                    method=scope["method"],
                    path=scope["path"],
                )
            await send_error(send, error)
            return
        if "tenantry" in scope:  # facts for the request's log line
            if tenant is not None:
                scope["tenantry"]["tenant_id"] = tenant.cloud_id
            if client is not None:
                scope["tenantry"]["client"] = client
        client_token = current_client_address.set(client)
        tenant_token = current_tenant.set(tenant)
        signed_token = current_tenant_token.set(
            header(scope, TENANT_CONTEXT_HEADER.encode()) if tenant is not None else None
        )
        user_token = current_user.set(user)
        caller_token = current_caller.set(caller)
        try:
            await self.app(scope, receive, send)
        finally:
            current_caller.reset(caller_token)
            current_user.reset(user_token)
            current_tenant_token.reset(signed_token)
            current_tenant.reset(tenant_token)
            current_client_address.reset(client_token)

    async def _caller_claims(self, scope: Scope) -> dict[str, Any]:
        """Who calls and what it vouches for: from the in-process transport, else the token."""
        in_process = scope.get(IN_PROCESS_CALL)
        if isinstance(in_process, InProcessCall):
            return {**in_process.claims, "iss": in_process.caller}
        authorization = header(scope, b"authorization")
        if authorization is None or not authorization.startswith("Bearer "):
            raise ApiError(401, "token_missing", "a service token is required")
        try:
            return await self.tokens.verify_once(authorization[7:])
        except TokenError as exc:
            raise ApiError(exc.status, exc.code, exc.message) from exc

    async def _authorize(
        self, scope: Scope
    ) -> tuple[TenantContext | None, UserContext | None, str | None, str]:
        claims = await self._caller_claims(scope)
        caller = str(claims["iss"])
        if not self.policy.allows(caller, self.service, scope["method"], scope["path"]):
            raise ApiError(
                403,
                "route_not_allowed",
                f"{caller} may not call {scope['method']} {scope['path']} on {self.service}",
            )
        tenant = self._tenant(scope, claims.get(claim.TENANT), caller)
        user = None
        if claims.get(claim.USER) is not None:
            if tenant is None:
                raise ApiError(403, "tenant_mismatch", "a user acts only within a tenant")
            token_id = claims.get(claim.USER_TOKEN)
            user = UserContext(
                str(claims[claim.USER]),
                str(claims.get(claim.ROLE, "")),
                None if token_id is None else str(token_id),
            )
        client = _client_address(scope) if caller == EDGE else None
        return tenant, user, client, caller

    def _tenant(self, scope: Scope, token_tenant: object, caller: str) -> TenantContext | None:
        context = header(scope, TENANT_CONTEXT_HEADER.encode())
        if context is None and token_tenant is None:
            return None
        if context is None or token_tenant is None:
            raise ApiError(403, "tenant_mismatch", "token and tenant context disagree")
        tenant = self.tenant_contexts.verify(context, time.time())
        if tenant.cloud_id != token_tenant:
            raise ApiError(403, "tenant_mismatch", "the tenant context names another tenant")
        if self.region != GLOBAL and tenant.region != self.region:
            raise ApiError(403, "wrong_region", "this tenant's data does not live in this region")
        # A tenant being restored is refused at every edge (503), but the restore itself
        # reseals its data through the services: calls that do not come through an edge pass.
        # A service that records what happened to tenants (audit) serves them in any status.
        restoring_inside = tenant.status == RESTORING and caller != EDGE
        control_plane = caller in CONTROL_PLANE and tenant.status != PURGED
        allowed = self.serves_inactive_tenants or restoring_inside or control_plane
        if tenant.status != "active" and not allowed:
            raise ApiError(403, f"tenant_{tenant.status}", f"the tenant is {tenant.status}")
        return tenant


def _client_address(scope: Scope) -> str | None:
    """The client address the edge named, if it is an IP address (anything else is dropped)."""
    named = header(scope, CLIENT_ADDRESS_HEADER.encode())
    if named is None:
        return None
    try:
        return str(ipaddress.ip_address(named))
    except ValueError:
        return None
