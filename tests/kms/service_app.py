"""The kms routes on a bare FastAPI, driven directly: what the kms unit tests share.

A small ASGI middleware stands in for the platform's token and tenant-context checks, taking the
tenant from test-only headers.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from starlette.types import ASGIApp, Receive, Scope, Send

from tenantry.platform.context import TenantContext, current_caller, tenant_scope
from tenantry.platform.http_errors import install_error_handlers
from tenantry.platform.storage import Databases
from tenantry.services.kms.app import build_kms_router
from tenantry.services.kms.models import WrappedDataKey
from tenantry.services.kms.providers import LocalKeyProvider

REGION = "eu"
SHARDS = ["eu-1", "eu-2"]
ROOT_V1 = "local:root-eu-v1"


class HeaderTenantMiddleware:
    """Test stand-in for the platform's auth layer: the tenant (and the calling service, identity
    unless `x-test-caller` names another) from `x-test-*` headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        tenant_id = headers.get("x-test-tenant")
        if scope["type"] != "http" or tenant_id is None:
            await self.app(scope, receive, send)
            return
        tenant = context(
            tenant_id, headers.get("x-test-shard", "eu-1"), headers.get("x-test-region", REGION)
        )
        caller = current_caller.set(headers.get("x-test-caller", "identity"))
        try:
            with tenant_scope(tenant):
                await self.app(scope, receive, send)
        finally:
            current_caller.reset(caller)


def context(tenant_id: str, shard: str = "eu-1", region: str = REGION) -> TenantContext:
    return TenantContext(tenant_id, tenant_id, region, shard, "active")


def build_app(
    databases: Databases,
    provider: LocalKeyProvider,
    on_customer_keys_changed: Callable[[], None] = lambda: None,
) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(
        build_kms_router(databases, provider, REGION, SHARDS, on_customer_keys_changed)
    )
    app.add_middleware(HeaderTenantMiddleware)
    return app


def as_tenant(
    tenant: str, shard: str = "eu-1", region: str = REGION, caller: str = "identity"
) -> dict[str, str]:
    return {
        "x-test-tenant": tenant,
        "x-test-shard": shard,
        "x-test-region": region,
        "x-test-caller": caller,
    }


def data_key(
    client: TestClient, tenant: str, shard: str = "eu-1", version: int | None = None
) -> Any:
    path = "/internal/kms/data-key" if version is None else f"/internal/kms/data-key/{version}"
    return client.get(path, headers=as_tenant(tenant, shard))


def key_of(client: TestClient, tenant: str, shard: str = "eu-1") -> bytes:
    answer = data_key(client, tenant, shard)
    assert answer.status_code == 200, answer.text
    return base64.b64decode(answer.json()["key"], validate=True)


def stored_rows(databases: Databases, tenant: str, shard: str = "eu-1") -> list[Any]:
    """The tenant's data_keys rows as stored (wrapped), read through its own tenant session."""
    with tenant_scope(context(tenant, shard)), databases.session() as session:
        statement = select(
            WrappedDataKey.version,
            WrappedDataKey.wrapped,
            WrappedDataKey.root_key_ref,
            WrappedDataKey.root_version,
            WrappedDataKey.state,
        ).order_by(WrappedDataKey.version)
        return list(session.rows(statement))
