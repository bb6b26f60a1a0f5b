"""The attachment routes against a stand-in media: what reaches media, what the client sees, and
how each of media's refusals reads (the real media is exercised in tests/e2e/test_attachments)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from issues_harness import FixedDataKeys, build_app
from tenantry.platform.client import ServiceResponse
from tenantry.platform.context import UserContext, require_tenant
from tenantry.platform.errors import ApiError
from tenantry.platform.storage import Databases
from tenantry.services.issues import attachments
from tenantry.services.issues.attachments import build_attachments_router
from tenantry.services.issues.media_files import MediaFiles, MediaToken, refusal

FILE = {
    "id": "a" * 32,
    "collection": "issues:OPS-1",
    "name": "plan.png",
    "media_type": "image/png",
    "size": 3,
    "sha256": "0" * 64,
    "status": "succeeded",
    "reason": None,
    "preview_pages": 1,
    "created_at": "2026-01-01T00:00:00",
    "updated_at": "2026-01-01T00:00:00",
}


class StandInMedia(MediaFiles):
    """Records what issues asks of media and answers as media would (or refuses)."""

    def __init__(self) -> None:
        super().__init__(client=None)  # type: ignore[arg-type]  # never called
        self.tokens: list[tuple[str, str, list[str], str]] = []
        self.uploads: list[tuple[str, bytes, str]] = []
        self.fail_with: ApiError | None = None

    async def token(
        self, collection: str, actions: list[str], user: UserContext, lifetime: int
    ) -> MediaToken:
        self.tokens.append((require_tenant().cloud_id, collection, actions, user.account_id))
        return MediaToken(f"tok.{collection}.{'+'.join(actions)}", collection)

    async def upload(
        self, token: MediaToken, body: bytes, content_type: str, user: UserContext
    ) -> dict[str, Any]:
        if self.fail_with is not None:
            raise self.fail_with
        self.uploads.append((token.collection, body, content_type))
        return {**FILE, "status": "pending"}

    async def files(self, token: MediaToken, user: UserContext) -> list[dict[str, Any]]:
        return [FILE]


@pytest.fixture
def media() -> StandInMedia:
    return StandInMedia()


@pytest.fixture
def client(databases: Databases, media: StandInMedia) -> Iterator[TestClient]:
    app: FastAPI = build_app(databases)
    app.include_router(build_attachments_router(databases, FixedDataKeys(), media))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def as_tenant(tenant: str) -> dict[str, str]:
    return {"x-test-tenant": tenant, "x-test-user": f"user-of-{tenant}"}


def make_issue(client: TestClient, tenant: str) -> None:
    headers = as_tenant(tenant)
    project = {"key": "OPS", "name": "Ops"}
    assert client.post("/rest/issues/projects", json=project, headers=headers).status_code == 201
    issue = {"project": "OPS", "summary": "s", "description": ""}
    assert client.post("/rest/issues/issues", json=issue, headers=headers).status_code == 201


def test_upload_goes_to_the_issue_collection_as_sent(
    client: TestClient, media: StandInMedia
) -> None:
    make_issue(client, "tenant-a")
    made = client.post(
        "/rest/issues/issues/OPS-1/attachments",
        files={"file": ("plan.png", b"png")},
        headers=as_tenant("tenant-a"),
    )
    assert made.status_code == 201, made.text
    assert made.json() == {
        "id": "a" * 32,
        "name": "plan.png",
        "media_type": "image/png",
        "size": 3,
        "status": "pending",
    }
    assert media.tokens == [("tenant-a", "issues:OPS-1", ["insert"], "user-of-tenant-a")]
    [(collection, body, content_type)] = media.uploads
    assert collection == "issues:OPS-1"
    assert content_type.startswith("multipart/form-data; boundary=")
    assert b'name="file"; filename="plan.png"' in body and b"png" in body


def test_listing_links_carry_one_read_token(client: TestClient, media: StandInMedia) -> None:
    make_issue(client, "tenant-a")
    listed = client.get("/rest/issues/issues/OPS-1/attachments", headers=as_tenant("tenant-a"))
    assert listed.status_code == 200, listed.text
    [entry] = listed.json()["attachments"]
    token = "tok.issues%3AOPS-1.read"
    assert entry["preview_pages"] == 1
    assert entry["preview_url"] == f"/rest/media/files/{'a' * 32}/preview/{{page}}?token={token}"
    assert entry["download_url"] == f"/rest/media/files/{'a' * 32}/content?token={token}"
    assert [t[2] for t in media.tokens] == [["read"]]


def test_another_tenant_and_unknown_issues_never_reach_media(
    client: TestClient, media: StandInMedia
) -> None:
    make_issue(client, "tenant-a")
    for tenant, key in (("tenant-b", "OPS-1"), ("tenant-a", "OPS-2")):
        listed = client.get(f"/rest/issues/issues/{key}/attachments", headers=as_tenant(tenant))
        assert listed.status_code == 404 and listed.json()["error"] == "issue_not_found"
        made = client.post(
            f"/rest/issues/issues/{key}/attachments",
            files={"file": ("a", b"a")},
            headers=as_tenant(tenant),
        )
        assert made.status_code == 404 and made.json()["error"] == "issue_not_found"
    assert media.tokens == [] and media.uploads == []


def test_bodies_that_are_not_multipart_or_too_big_are_refused(
    client: TestClient, media: StandInMedia, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_issue(client, "tenant-a")
    url, headers = "/rest/issues/issues/OPS-1/attachments", as_tenant("tenant-a")
    raw = client.post(url, content=b"raw", headers={**headers, "content-type": "image/png"})
    assert raw.status_code == 415 and raw.json()["error"] == "unsupported_media_type"
    bare = client.post(
        url, content=b"x", headers={**headers, "content-type": "multipart/form-data"}
    )
    assert bare.status_code == 415
    monkeypatch.setattr(attachments, "MAX_UPLOAD_BODY_BYTES", 1000)
    big = client.post(url, files={"file": ("big", b"x" * 2000)}, headers=headers)
    assert big.status_code == 413 and big.json()["error"] == "body_too_large"
    anonymous = client.get(url, headers={"x-test-tenant": "tenant-a"})
    assert anonymous.status_code == 401
    assert media.uploads == []


def test_media_refusals_reach_the_client_as_theirs(client: TestClient, media: StandInMedia) -> None:
    make_issue(client, "tenant-a")
    media.fail_with = ApiError(413, "quota_exceeded", "the site's media quota would be exceeded")
    made = client.post(
        "/rest/issues/issues/OPS-1/attachments",
        files={"file": ("a", b"a")},
        headers=as_tenant("tenant-a"),
    )
    assert made.status_code == 413 and made.json()["error"] == "quota_exceeded"


def answer(status: int, body: object, **headers: str) -> ServiceResponse:
    return ServiceResponse(status, headers, orjson.dumps(body))


@pytest.mark.parametrize(
    ("response", "status", "code"),
    [
        (answer(413, {"error": "file_too_large", "message": "m"}), 413, "file_too_large"),
        (answer(400, {"error": "malformed_multipart", "message": "m"}), 400, "malformed_multipart"),
        (answer(422, {"error": "file_required", "message": "m"}), 422, "file_required"),
        (answer(403, {"error": "media_token_expired", "message": "m"}), 502, "media_error"),
        (answer(404, {"error": "not_found", "message": "m"}), 502, "media_error"),
        (answer(500, {"error": "blob_missing", "message": "m"}), 503, "media_unavailable"),
        (ServiceResponse(502, {}, b"<html>bad gateway</html>"), 503, "media_unavailable"),
    ],
)
def test_media_errors_map_to_clear_statuses(
    response: ServiceResponse, status: int, code: str
) -> None:
    error = refusal(response)
    assert (error.status, error.code) == (status, code)
    if status == 503:
        assert error.headers["retry-after"]


def test_media_unavailable_keeps_its_retry_after() -> None:
    error = refusal(
        answer(503, {"error": "kms_unavailable", "message": "m"}, **{"retry-after": "5"})
    )
    assert error.status == 503 and error.headers == {"retry-after": "5"}
    assert "kms_unavailable" in error.message
