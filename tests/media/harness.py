"""A media app on a bare FastAPI for driving its routes directly, plus token helpers.

The real service puts service-token checks in front; here a tiny ASGI middleware takes the
tenant (and user) from test-only headers instead. Media tokens are real: signed with a media
key made under tmp_path and verified against its public half.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

from issues_harness import FixedDataKeys
from tenantry.platform.blobstore import BlobStore
from tenantry.platform.context import TenantContext, UserContext, tenant_scope
from tenantry.platform.http_errors import install_error_handlers
from tenantry.platform.keyrepo_directory import DirectoryKeyRepository
from tenantry.platform.service_keys import ensure_service_key
from tenantry.platform.storage import Databases
from tenantry.services.media.blobs import EncryptedBlobs
from tenantry.services.media.limits import Limits
from tenantry.services.media.processing import Processor
from tenantry.services.media.render import thread_renderer
from tenantry.services.media.routes import build_router
from tenantry.services.media.service import Media
from tenantry.services.media.tokens import MediaTokens


class HeaderContextMiddleware:
    """Test stand-in for the platform's auth layer: tenant and user from `x-test-*` headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {k.decode(): v.decode() for k, v in scope.get("headers", ())}
        tenant_id = headers.get("x-test-tenant")
        if scope["type"] != "http" or tenant_id is None:
            await self.app(scope, receive, send)
            return
        tenant = TenantContext(tenant_id, f"site-{tenant_id}", "eu", "eu-1", "active")
        role = headers.get("x-test-role")
        user = UserContext("account-1", role) if role else None
        with tenant_scope(tenant, user):
            await self.app(scope, receive, send)


def media_tokens(key_dir: Path, clock: Callable[[], float] = time.time) -> MediaTokens:
    """Media tokens signed with a media key kept under `key_dir` (issued at `clock`'s time)."""
    key = ensure_service_key(key_dir, "media")
    return MediaTokens(key, DirectoryKeyRepository(key_dir / "keys" / "public"), clock=clock)


@dataclass
class MediaHarness:
    """A media app on a test client, its blob store, and its token issuer."""

    client: TestClient
    media: Media
    store: BlobStore
    tokens: MediaTokens

    def token(
        self,
        tenant: str = "t1",
        collection: str = "issues:OPS-1",
        actions: tuple[str, ...] = ("read", "insert", "update", "delete"),
        role: str = "admin",
        lifetime: int = 300,
    ) -> str:
        token, _ = self.tokens.issue(
            tenant=tenant,
            site=f"site-{tenant}",
            collection=collection,
            actions=actions,
            role=role,
            lifetime=lifetime,
        )
        return token

    def request(
        self, method: str, path: str, *, tenant: str = "t1", token: str | None = None, **kw: Any
    ) -> Any:
        params = dict(kw.pop("params", {}))
        if token is not None:
            params["token"] = token
        headers = {"x-test-tenant": tenant, **kw.pop("headers", {})}
        return self.client.request(
            method, f"/rest/media{path}", params=params, headers=headers, **kw
        )

    def upload(
        self, data: bytes, name: str = "a.bin", collection: str = "issues:OPS-1", **kw: Any
    ) -> Any:
        token = kw.pop("token", None) or self.token(collection=collection)
        return self.request(
            "POST",
            f"/collections/{collection}/files",
            token=token,
            files={"file": (name, data, "application/pdf")},
            **kw,
        )

    def settle(self) -> None:
        """Wait until every queued render is done (runs on the app's event loop)."""
        self.client.portal.call(self.media.processor.idle)  # type: ignore[union-attr]

    def wait_status(self, file_id: str, token: str | None = None) -> dict[str, Any]:
        self.settle()
        found = self.request("GET", f"/files/{file_id}", token=token or self.token())
        assert found.status_code == 200, found.text
        document: dict[str, Any] = found.json()
        return document


def build_media_app(
    databases: Databases, store: BlobStore, tokens: MediaTokens, limits: Limits
) -> tuple[FastAPI, Media]:
    encrypted = EncryptedBlobs(store)
    media = Media(
        databases,
        FixedDataKeys(),
        encrypted,
        limits,
        Processor(databases, encrypted, thread_renderer()),
    )
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(build_router(media, tokens))
    app.add_middleware(HeaderContextMiddleware)
    return app, media


def expired_token(key_dir: Path) -> str:
    """A read token for t1's `issues:OPS-1` that expired a minute ago."""
    past = media_tokens(key_dir, clock=lambda: time.time() - 360)
    token, _ = past.issue(
        tenant="t1",
        site="site-t1",
        collection="issues:OPS-1",
        actions=("read",),
        role="admin",
        lifetime=300,
    )
    return token
