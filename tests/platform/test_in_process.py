"""Calls between services of one process: no token, yet the allowlist and the signed tenant
context are checked as over the network, the callee sees none of the caller's contextvars, and
nothing from the network can pass for an in-process caller."""

from __future__ import annotations

import asyncio
import contextvars
from pathlib import Path

import httpx
import pytest

from tenantry.platform.asgi import Receive, Scope, Send, header, send_json
from tenantry.platform.client import ServiceClient
from tenantry.platform.context import TenantContext, current_tenant, tenant_scope
from tenantry.platform.directory import ServiceDirectory
from tenantry.platform.errors import ApiError
from tenantry.platform.in_process import IN_PROCESS_CALL, InProcessApps, InProcessCall
from tenantry.platform.keyrepo_directory import DirectoryKeyRepository
from tenantry.platform.policy import Policy
from tenantry.platform.replay_sqlite import SqliteReplayCache
from tenantry.platform.service_auth import ServiceAuthMiddleware
from tenantry.platform.service_keys import ensure_service_key
from tenantry.platform.tenant_context import (
    TenantContextVerifier,
    context_signer,
    sign_tenant_context,
)
from tenantry.platform.tokens import TokenSigner, TokenVerifier

POLICY = "edge -> issues: GET /things\nedge -> issues: GET /pieces\nedge -> issues: GET /broken\n"
TENANT = TenantContext("t-1", "acme", "eu", "eu-1", "active")
probe: contextvars.ContextVar[str | None] = contextvars.ContextVar("probe", default=None)


async def things(scope: Scope, receive: Receive, send: Send) -> None:
    path = scope["path"]
    if path == "/pieces":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for piece in (b"one ", b"two ", b"three"):
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    if path == "/broken":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"half", "more_body": True})
        raise RuntimeError("the callee fell over")
    tenant = current_tenant.get()
    await send_json(
        send,
        200,
        {
            "tenant": tenant.cloud_id if tenant else None,
            "probe": probe.get(),
            "token": header(scope, b"authorization"),
            "caller": scope[IN_PROCESS_CALL].caller if IN_PROCESS_CALL in scope else None,
        },
    )


class Process:
    """issues behind its auth layer, and clients of the same process calling it."""

    def __init__(self, root: Path) -> None:
        for name in ("edge", "media", "tcs", "issues"):
            ensure_service_key(root, name)
        keys = DirectoryKeyRepository(root / "keys" / "public")
        self.issues = ServiceAuthMiddleware(
            things,
            service="issues",
            region="eu",
            tokens=TokenVerifier(
                audience="issues", keys=keys, replay=SqliteReplayCache(root / "replay.db")
            ),
            policy=Policy.parse(POLICY),
            tenant_contexts=TenantContextVerifier(keys),
        )
        self.apps = InProcessApps()
        self.apps.add("issues", "eu", self.issues)
        self.directory = ServiceDirectory({}, root / "ca.pem", in_process=self.apps)
        self.context = sign_tenant_context(context_signer(ensure_service_key(root, "tcs")), TENANT)
        self.root = root

    def client(self, caller: str, timeout: float = 10.0) -> ServiceClient:
        signer = TokenSigner(ensure_service_key(self.root, caller))
        return ServiceClient(signer, self.directory, timeout=timeout)


@pytest.fixture
def process(tmp_path: Path) -> Process:
    return Process(tmp_path)


async def test_a_call_in_process_carries_no_token_and_acts_for_the_contexts_tenant(
    process: Process,
) -> None:
    edge = process.client("edge")
    probe.set("the caller's")
    other = TenantContext("t-other", "other", "eu", "eu-1", "active")
    with tenant_scope(other):
        answer = await edge.send(
            "issues", "GET", "/things", region="eu", tenant_context=process.context, tenant_id="t-1"
        )
    assert answer.status == 200, answer.body
    assert answer.json() == {"tenant": "t-1", "probe": None, "token": None, "caller": "edge"}


async def test_the_allowlist_applies_in_process(process: Process) -> None:
    media = process.client("media")
    answer = await media.send("issues", "GET", "/things", region="eu")
    assert (answer.status, answer.json()["error"]) == (403, "route_not_allowed")


async def test_the_tenant_context_is_checked_in_process(process: Process, tmp_path: Path) -> None:
    edge = process.client("edge")
    mismatched = await edge.send(
        "issues", "GET", "/things", region="eu", tenant_context=process.context, tenant_id="t-2"
    )
    assert (mismatched.status, mismatched.json()["error"]) == (403, "tenant_mismatch")
    forged = sign_tenant_context(context_signer(ensure_service_key(tmp_path, "edge")), TENANT)
    refused = await edge.send(
        "issues", "GET", "/things", region="eu", tenant_context=forged, tenant_id="t-1"
    )
    assert refused.status == 403, refused.body
    unnamed = await edge.send("issues", "GET", "/things", region="eu", tenant_id="t-1")
    assert (unnamed.status, unnamed.json()["error"]) == (403, "tenant_mismatch")


async def test_nothing_from_the_network_passes_for_an_in_process_caller(process: Process) -> None:
    transport = httpx.ASGITransport(app=process.issues)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="https://issues") as http:
        spoofed = await http.get("/things", headers={IN_PROCESS_CALL: "edge", "x-caller": "edge"})
    assert (spoofed.status_code, spoofed.json()["error"]) == (401, "token_missing")

    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    # Only the transport's own InProcessCall counts; any other value under its key does not.
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/things",
        "headers": [],
        IN_PROCESS_CALL: {"caller": "edge", "claims": {}},
    }
    await process.issues(scope, receive, send)  # type: ignore[arg-type]
    assert sent[0]["status"] == 401
    assert isinstance(InProcessCall("edge", {}), InProcessCall)


async def test_a_streamed_answer_arrives_in_pieces_and_a_cut_one_is_an_error(
    process: Process,
) -> None:
    edge = process.client("edge")
    received = bytearray()
    async with edge.stream("issues", "GET", "/pieces", region="eu", piece_bytes=3) as answer:
        assert answer.status == 200
        async for piece in answer.pieces():
            assert len(piece) <= 3
            received += piece
    assert bytes(received) == b"one two three"

    with pytest.raises(ApiError) as cut:
        async with edge.stream("issues", "GET", "/broken", region="eu") as broken:
            async for _ in broken.pieces():
                pass
    assert cut.value.code == "upstream_body_incomplete"


async def test_a_callee_that_never_answers_is_given_up_on(process: Process) -> None:
    async def mute(scope: Scope, receive: Receive, send: Send) -> None:
        await asyncio.Event().wait()

    process.apps.add("issues", "eu", mute)
    edge = process.client("edge", timeout=0.05)
    with pytest.raises(ApiError) as unanswered:
        await edge.send("issues", "GET", "/things", region="eu")
    assert unanswered.value.code == "upstream_unavailable"
