"""A tenant being restored: refused for anything the edge forwards, let through for the calls
the restore itself makes between services (its reseal), and a suspended tenant for neither."""

from __future__ import annotations

from pathlib import Path

import httpx

from tenantry.platform.asgi import Receive, Scope, Send, send_json
from tenantry.platform.claims import TENANT
from tenantry.platform.context import TenantContext
from tenantry.platform.keyrepo_directory import DirectoryKeyRepository
from tenantry.platform.policy import Policy
from tenantry.platform.replay_sqlite import SqliteReplayCache
from tenantry.platform.service_auth import ServiceAuthMiddleware
from tenantry.platform.service_keys import ensure_service_key
from tenantry.platform.tenant_context import (
    HEADER,
    TenantContextVerifier,
    context_signer,
    sign_tenant_context,
)
from tenantry.platform.tokens import TokenSigner, TokenVerifier


async def ok(scope: Scope, receive: Receive, send: Send) -> None:
    await send_json(send, 200, {"ok": True})


async def call(tmp_path: Path, caller: str, status: str) -> httpx.Response:
    keys = DirectoryKeyRepository(tmp_path / "keys" / "public")
    tcs = context_signer(ensure_service_key(tmp_path, "tcs"))
    tenant = TenantContext("t-1", "acme", "us", "us-1", status)
    signer = TokenSigner(ensure_service_key(tmp_path, caller))
    app = ServiceAuthMiddleware(
        ok,
        service="kms",
        region="us",
        tokens=TokenVerifier(
            audience="kms", keys=keys, replay=SqliteReplayCache(tmp_path / "replay.db")
        ),
        policy=Policy.parse("edge -> kms: GET /things\nissues -> kms: GET /things\n"),
        tenant_contexts=TenantContextVerifier(keys),
    )
    headers = {
        "authorization": f"Bearer {signer.sign('kms', {TENANT: 't-1'})}",
        HEADER: sign_tenant_context(tcs, tenant),
    }
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://kms") as http:
        return await http.get("/things", headers=headers)


async def test_a_restoring_tenant_passes_between_services_but_never_from_the_edge(
    tmp_path: Path,
) -> None:
    from_edge = await call(tmp_path, "edge", "restoring")
    assert (from_edge.status_code, from_edge.json()["error"]) == (403, "tenant_restoring")
    assert (await call(tmp_path, "issues", "restoring")).status_code == 200
    suspended = await call(tmp_path, "issues", "suspended")
    assert (suspended.status_code, suspended.json()["error"]) == (403, "tenant_suspended")
    assert (await call(tmp_path, "edge", "active")).status_code == 200
