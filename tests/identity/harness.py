"""An identity app on a bare FastAPI, with tcs and kms faked in memory and users from headers.

The real service sits behind the platform's auth layer and calls tcs and kms over signed HTTPS;
here `FakeCloud` answers identity's `ServiceClient` calls, and a tiny ASGI middleware stands in
for the auth layer on the `/rest/identity` routes.
"""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from tenantry.platform.audit.outbox import AuditOutbox
from tenantry.platform.client import ServiceResponse
from tenantry.platform.context import (
    TenantContext,
    UserContext,
    current_tenant_token,
    tenant_scope,
)
from tenantry.platform.crypto import DataKey
from tenantry.platform.crypto.index_keys import index_key
from tenantry.platform.data_keys import DataKeys
from tenantry.platform.http_errors import install_error_handlers
from tenantry.platform.storage import Databases
from tenantry.platform.storage.backend import GLOBAL_SHARD
from tenantry.platform.tokens import TokenSigner
from tenantry.services.identity.account_changes import AccountChanges, build_feed_router
from tenantry.services.identity.internal_routes import build_internal_router
from tenantry.services.identity.kms_notices import KmsNotices
from tenantry.services.identity.models import AuditOutboxRow
from tenantry.services.identity.passwords import PasswordWork
from tenantry.services.identity.routes import build_router
from tenantry.services.identity.user_tokens import UserTokens


def _answer(status: int, document: Any = None) -> ServiceResponse:
    body = orjson.dumps(document) if document is not None else b""
    return ServiceResponse(status, {"content-type": "application/json"}, body)


class FakeCloud:
    """tcs and a kms per region as identity's ServiceClient sees them: in memory, recorded.

    kms hands a tenant's data keys only to a call from the tenant's region carrying the
    context "tcs signed" for that tenant, as the real kms does.
    """

    def __init__(self) -> None:
        self.tenants: dict[str, TenantContext] = {}
        self.keys: dict[str, dict[int, bytes]] = {}
        self.deleted: list[str] = []
        self.kms_calls: list[tuple[str, str, str | None]] = []
        self.kms_down = False
        self.owner_notices: list[tuple[str, dict[str, str]]] = []
        self.minimum: dict[str, int] = {}
        """Each tenant's minimum decryption version: kms refuses older ones (410)."""

    def context_of(self, tenant: TenantContext) -> str:
        """The stand-in for the context tcs signs for `tenant`."""
        return f"signed-context-of-{tenant.cloud_id}"

    def rotate(self, cloud_id: str) -> None:
        """Give a tenant a new current data key version."""
        versions = self.keys[cloud_id]
        new = max(versions, default=0) + 1
        versions[new] = hashlib.sha256(f"{cloud_id} v{new}".encode()).digest()

    async def call(
        self,
        callee: str,
        method: str,
        route: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        region: str = "global",
        tenant_context: str | None = None,
        tenant_id: str | None = None,
        **_: Any,
    ) -> ServiceResponse:
        params = params or {}
        if callee == "tcs":
            return self._tcs(method, route, params, json)
        if (callee, method, route) == ("kms", "POST", "/internal/kms/owners/changed"):
            if self.kms_down:
                return _answer(503, {"error": "kms_unavailable", "message": "down"})
            self.owner_notices.append((region, json))
            return _answer(200, {"region": region, "rotated": None, **json})
        assert callee == "kms" and method == "GET", (callee, method, route)
        self.kms_calls.append((region, route, tenant_context))
        return self._kms(route, params, region, tenant_context, tenant_id)

    def _tcs(
        self, method: str, route: str, params: Mapping[str, str], json: Any
    ) -> ServiceResponse:
        if (method, route) == ("POST", "/internal/tcs/tenants"):
            if json["site"] in self.tenants:
                return _answer(409, {"error": "site_taken", "message": "the site is taken"})
            region = json.get("region", "eu")
            tenant = TenantContext(str(uuid.uuid4()), json["site"], region, f"{region}-1", "active")
            self.tenants[tenant.site] = tenant
            self.keys[tenant.cloud_id] = {}
            self.rotate(tenant.cloud_id)
            return _answer(201, self._public(tenant))
        if (method, route) == ("GET", "/internal/tcs/tenants/by-site/{site}"):
            found = self.tenants.get(params["site"])
            if found is None:
                return _answer(404, {"error": "unknown_site", "message": "no such site"})
            return _answer(200, self._public(found))
        if (method, route) == ("DELETE", "/internal/tcs/tenants/{cloud_id}"):
            self.deleted.append(params["cloud_id"])
            self.tenants = {
                s: t for s, t in self.tenants.items() if t.cloud_id != params["cloud_id"]
            }
            return _answer(204)
        raise AssertionError(f"identity made an unexpected tcs call: {method} {route}")

    def _public(self, tenant: TenantContext) -> dict[str, str]:
        return {
            "cloud_id": tenant.cloud_id,
            "site": tenant.site,
            "region": tenant.region,
            "shard": tenant.shard,
            "status": tenant.status,
            "context": self.context_of(tenant),
        }

    def _kms(
        self,
        route: str,
        params: Mapping[str, str],
        region: str,
        tenant_context: str | None,
        tenant_id: str | None,
    ) -> ServiceResponse:
        if self.kms_down:
            return _answer(503, {"error": "kms_unavailable", "message": "down"})
        tenant = next((t for t in self.tenants.values() if t.cloud_id == tenant_id), None)
        if tenant is None or tenant_context != self.context_of(tenant) or region != tenant.region:
            return _answer(403, {"error": "tenant_context_untrusted", "message": "refused"})
        versions = self.keys[tenant.cloud_id]
        if route == "/internal/kms/index-key/{purpose}":
            derived = index_key(DataKey(1, versions[1]), bytes.fromhex(params["purpose"]))
            return _answer(200, {"key": base64.b64encode(derived).decode(), "max_age": 300})
        version = max(versions) if route == "/internal/kms/data-key" else int(params["version"])
        if version < self.minimum.get(tenant.cloud_id, 0):
            return _answer(410, {"error": "data_key_retired", "message": "retired"})
        material = base64.b64encode(versions[version]).decode()
        return _answer(200, {"version": version, "key": material, "max_age": 300})


class HeaderContextMiddleware:
    """Test stand-in for the platform's auth layer: site, user, role and token id from
    `x-test-*` headers.

    Like the real layer it sets the tenant, the user and the tenant's signed context.
    """

    def __init__(self, app: ASGIApp, cloud: FakeCloud) -> None:
        self.app = app
        self.cloud = cloud

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        site = headers.get("x-test-site")
        if scope["type"] != "http" or site is None:
            await self.app(scope, receive, send)
            return
        tenant = self.cloud.tenants[site]
        user = UserContext(
            headers["x-test-user"], headers.get("x-test-role", "member"), headers.get("x-test-jti")
        )
        signed = current_tenant_token.set(self.cloud.context_of(tenant))
        try:
            with tenant_scope(tenant, user):
                await self.app(scope, receive, send)
        finally:
            current_tenant_token.reset(signed)


REGIONS = ("au", "eu", "us")


def build_app(
    databases: Databases,
    cloud: FakeCloud,
    user_tokens: TokenSigner,
    clock: Callable[[], float] = time.time,
    slots: int | None = None,
) -> FastAPI:
    """identity's routes on `databases`, with `cloud` as its tcs and kms.

    The app's `DataKeys` is `app.state.data_keys`, for tests that make it forget held keys;
    its kms outbox is `app.state.notices` (no delivery loop runs: tests deliver by hand), its
    account feed `app.state.changes` and its password hashing `app.state.passwords`.
    """
    app = FastAPI()
    install_error_handlers(app)
    data_keys = DataKeys(cloud)  # type: ignore[arg-type]  # FakeCloud has the one method used
    notices = KmsNotices(databases, cloud, REGIONS, clock=clock)  # type: ignore[arg-type]
    changes = AccountChanges(databases, clock=clock)
    passwords = PasswordWork(slots=slots)
    audit = AuditOutbox(
        AuditOutboxRow,
        databases.engine_for,
        [GLOBAL_SHARD],
        cloud,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]  # no delivery runs here
    )
    app.state.audit = audit
    app.state.data_keys = data_keys
    app.state.notices = notices
    app.state.changes = changes
    app.state.passwords = passwords
    app.include_router(
        build_router(
            databases,
            cloud,  # type: ignore[arg-type]
            UserTokens(user_tokens),
            data_keys,
            notices,
            changes,
            passwords,
            audit,
            clock,
        )
    )
    app.include_router(build_internal_router(databases, data_keys))
    app.include_router(build_feed_router(changes))
    app.add_middleware(HeaderContextMiddleware, cloud=cloud)
    return app
