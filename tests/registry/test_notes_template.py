"""The notes template service runs as the README's "Adding a service" says: its spec builds an
app behind the platform's layers, which serves tenants their own notes and refuses the rest."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from notes_service.spec import SPEC
from tenantry.platform import claims, service_keys
from tenantry.platform.context import TenantContext
from tenantry.platform.policy import Policy
from tenantry.platform.runtime import ServiceRuntime
from tenantry.platform.service_spec import build_app, declared_routes
from tenantry.platform.tenant_context import HEADER, context_signer, sign_tenant_context
from tenantry.platform.tokens import TokenSigner

POLICY = """
edge -> notes: POST /rest/notes/notes
edge -> notes: GET /rest/notes/notes/{note_id}
"""


def tenant(cloud_id: str) -> TenantContext:
    return TenantContext(cloud_id, f"site-{cloud_id}", "eu", "eu-1", "active")


class Caller:
    """Signs calls to notes as one service, for one tenant."""

    def __init__(self, data_dir: Path, service: str) -> None:
        self.signer = TokenSigner(service_keys.ensure_service_key(data_dir, service))
        self.contexts = context_signer(service_keys.load_service_key(data_dir, "tcs"))

    def headers(self, acting_for: TenantContext) -> dict[str, str]:
        token = self.signer.sign("notes", {claims.TENANT: acting_for.cloud_id})
        context = sign_tenant_context(self.contexts, acting_for)
        return {"authorization": f"Bearer {token}", HEADER: context}


@pytest.fixture
async def notes(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    for identity in ("notes", "tcs"):
        service_keys.ensure_service_key(tmp_path, identity)
    (tmp_path / "run").mkdir()
    document = {"services": {}, "ca": str(tmp_path / "ca.pem")}
    (tmp_path / "run" / "directory.json").write_text(json.dumps(document))
    runtime = ServiceRuntime.load("notes", "eu", tmp_path)
    runtime = dataclasses.replace(runtime, policy=Policy.parse(POLICY))
    app = build_app(SPEC, runtime)
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="https://notes") as client:
        yield client


def test_the_spec_declares_the_routes_the_policy_names() -> None:
    assert declared_routes(SPEC) == {("POST", "/rest/notes/notes"), ("GET", "/rest/notes/notes/{}")}


async def test_a_tenant_reads_its_own_note_and_no_other_tenant_sees_it(
    notes: httpx.AsyncClient, tmp_path: Path
) -> None:
    edge = Caller(tmp_path, "edge")
    ours, theirs = tenant("t-ours"), tenant("t-theirs")

    made = await notes.post("/rest/notes/notes", json={"text": "hi"}, headers=edge.headers(ours))
    assert made.status_code == 201, made.text
    path = f"/rest/notes/notes/{made.json()['id']}"

    read = await notes.get(path, headers=edge.headers(ours))
    assert read.status_code == 200
    assert read.json()["text"] == "hi"
    other = await notes.get(path, headers=edge.headers(theirs))
    assert other.status_code == 404
    assert other.json()["error"] == "note_not_found"


async def test_a_caller_the_policy_does_not_name_is_refused(
    notes: httpx.AsyncClient, tmp_path: Path
) -> None:
    issues = Caller(tmp_path, "issues")

    refused = await notes.post(
        "/rest/notes/notes", json={"text": "x"}, headers=issues.headers(tenant("t-1"))
    )

    assert refused.status_code == 403
    assert refused.json()["error"] == "route_not_allowed"


async def test_bad_input_is_a_clear_error(notes: httpx.AsyncClient, tmp_path: Path) -> None:
    edge = Caller(tmp_path, "edge")

    empty = await notes.post(
        "/rest/notes/notes", json={"text": ""}, headers=edge.headers(tenant("t-1"))
    )

    assert empty.status_code == 422
    assert "error" in empty.json()
