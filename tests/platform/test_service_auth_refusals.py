"""A service's auth layer: an attack is refused and recorded; a store that cannot answer is
refused too, but is no attack and records no security event."""

from __future__ import annotations

from pathlib import Path

import httpx
from prometheus_client import REGISTRY

from tenantry.platform.asgi import Receive, Scope, Send, send_json
from tenantry.platform.keyrepo_directory import DirectoryKeyRepository
from tenantry.platform.policy import Policy
from tenantry.platform.replay import ReplayCache, ReplayStoreUnavailable
from tenantry.platform.replay_sqlite import SqliteReplayCache
from tenantry.platform.service_auth import ServiceAuthMiddleware
from tenantry.platform.service_keys import ensure_service_key
from tenantry.platform.tenant_context import TenantContextVerifier
from tenantry.platform.tokens import TokenSigner, TokenVerifier


class DownStore:
    async def first_use(self, key: str, expires_at: float) -> bool:
        raise ReplayStoreUnavailable("redis: connection refused")


async def ok(scope: Scope, receive: Receive, send: Send) -> None:
    await send_json(send, 200, {"ok": True})


def events(reason: str) -> float:
    return REGISTRY.get_sample_value("tenantry_security_events_total", {"reason": reason}) or 0.0


async def call(tmp_path: Path, replay: ReplayCache, token: str) -> httpx.Response:
    keys = DirectoryKeyRepository(tmp_path / "keys" / "public")
    app = ServiceAuthMiddleware(
        ok,
        service="issues",
        region="us",
        tokens=TokenVerifier(audience="issues", keys=keys, replay=replay),
        policy=Policy.parse("edge -> issues: GET /things\n"),
        tenant_contexts=TenantContextVerifier(keys),
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://issues") as http:
        return await http.get("/things", headers={"authorization": f"Bearer {token}"})


async def test_a_replay_is_refused_and_recorded_a_lost_store_only_refused(tmp_path: Path) -> None:
    signer = TokenSigner(ensure_service_key(tmp_path, "edge"))
    store = SqliteReplayCache(tmp_path / "replay.db")
    token = signer.sign("issues")
    assert (await call(tmp_path, store, token)).status_code == 200

    replayed_before = events("token_replayed")
    replayed = await call(tmp_path, store, token)
    assert (replayed.status_code, replayed.json()["error"]) == (401, "token_replayed")
    assert events("token_replayed") == replayed_before + 1

    unavailable_before = events("replay_store_unavailable")
    down = await call(tmp_path, DownStore(), signer.sign("issues"))
    assert (down.status_code, down.json()["error"]) == (503, "replay_store_unavailable")
    assert events("replay_store_unavailable") == unavailable_before
