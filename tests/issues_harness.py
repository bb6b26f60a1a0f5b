"""An issues app on a bare FastAPI, with tenant and user taken from test-only headers.

The real service puts token checks in front; here a tiny ASGI middleware stands in for them so
the routes can be driven directly.
"""

from __future__ import annotations

import hashlib
import time

from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from tenantry.platform.context import TenantContext, UserContext, require_tenant, tenant_scope
from tenantry.platform.crypto import DataKey
from tenantry.platform.cursors import ListCursors
from tenantry.platform.data_keys import DataKeys, TenantKeys
from tenantry.platform.errors import ApiError
from tenantry.platform.http_errors import install_error_handlers
from tenantry.platform.service_keys import ServiceKey
from tenantry.platform.storage import Databases
from tenantry.services.issues.routes import build_router
from tenantry.services.issues.site_accounts import SiteAccounts

UNKNOWN_ACCOUNT_PREFIX = "ghost"
"""Assignees `StandInAccounts` says are no account of the site."""


class StandInAccounts(SiteAccounts):
    """identity's answer without an identity: every account exists but those named `ghost...`."""

    def __init__(self) -> None:
        super().__init__(client=None)  # type: ignore[arg-type]  # never called

    async def require_assignee(self, account_id: str) -> None:
        if account_id.startswith(UNKNOWN_ACCOUNT_PREFIX):
            raise ApiError(422, "unknown_assignee", f"{account_id!r} is no account of the site")


class HeaderContextMiddleware:
    """Test stand-in for the platform's auth layer: context from `x-test-*` headers.

    The user's role is `x-test-role`, an admin's when not given (as the edge would forward it).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        tenant_id = headers.get("x-test-tenant")
        if tenant_id is None:
            await self.app(scope, receive, send)
            return
        tenant = TenantContext(
            cloud_id=tenant_id,
            site=tenant_id,
            region="eu",
            shard=headers.get("x-test-shard", "eu-1"),
            status="active",
        )
        account = headers.get("x-test-user")
        role = headers.get("x-test-role", "admin")
        user = UserContext(account_id=account, role=role) if account else None
        with tenant_scope(tenant, user):
            await self.app(scope, receive, send)


def tenant_keys() -> TenantKeys:
    """Test stand-in for the current tenant's data key from kms: fixed, derived from its id."""
    material = hashlib.sha256(b"test data key " + require_tenant().cloud_id.encode()).digest()
    key = DataKey(1, material)
    return TenantKeys(key, {1: key})


class FixedDataKeys(DataKeys):
    """Data keys without a kms: every tenant has `tenant_keys()`."""

    def __init__(self) -> None:
        super().__init__(client=None)  # type: ignore[arg-type]  # never called

    async def for_tenant(self, min_version: int = 0) -> TenantKeys:
        return tenant_keys()


class StandInTrashing:
    """Deletions to the trash without a purge loop to tell: the time is the wall clock's."""

    def prepare(self) -> None:
        return None

    def now(self) -> float:
        return time.time()

    async def hide_attachments(self, issue_key: str, user: UserContext) -> None:
        return None


def harness_cursors() -> ListCursors:
    """List cursors under a fresh key, as the service makes them from its own."""
    return ListCursors(ServiceKey("issues", "issues/k1", ec.generate_private_key(ec.SECP256R1())))


def build_app(databases: Databases, cursors: ListCursors | None = None) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(
        build_router(
            databases,
            FixedDataKeys(),
            StandInAccounts(),
            cursors or harness_cursors(),
            StandInTrashing(),
        )
    )
    app.add_middleware(HeaderContextMiddleware)
    return app
