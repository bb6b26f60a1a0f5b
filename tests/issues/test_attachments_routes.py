"""The attachment routes against a stand-in media: what reaches media, what the client sees, and
how each of media's refusals reads (the real media is exercised in tests/e2e/test_attachments)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from issues_harness import FixedDataKeys, StandInTrashing, build_app
from tenantry.platform.client import ServiceResponse
from tenantry.platform.context import TenantContext, UserContext, require_tenant, tenant_scope
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


UPLOAD = {
    "id": "b" * 32,
    "collection": "issues:OPS-1",
    "name": "dump.bin",
    "size": 10,
    "chunk_size": 5,
    "chunks": 2,
    "received": [],
    "missing": [0, 1],
}


class StandInMedia(MediaFiles):
    """Records what issues asks of media and answers as media would (or refuses)."""

    def __init__(self) -> None:
        super().__init__(client=None)  # type: ignore[arg-type]  # never called
        self.tokens: list[tuple[str, str, list[str], str]] = []
        self.uploads: list[tuple[str, bytes, str]] = []
        self.deleted: list[tuple[str, str]] = []
        self.trashed: list[tuple[str, str]] = []
        self.started: list[tuple[str, str, int, int | None]] = []
        self.completed: list[tuple[str, str, str | None]] = []
        self.fail_with: ApiError | None = None

    async def token(
        self,
        collection: str,
        actions: list[str],
        user: UserContext | None,
        lifetime: int,
        attempt_seconds: float | None = None,
        upload: str | None = None,
    ) -> MediaToken:
        assert user is not None
        self.tokens.append((require_tenant().cloud_id, collection, actions, user.account_id))
        scope = f".{upload}" if upload else ""
        return MediaToken(f"tok.{collection}.{'+'.join(actions)}{scope}", collection, 1234)

    async def delete_file(self, token: MediaToken, file_id: str, user: UserContext) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.deleted.append((token.collection, file_id))

    async def trash_file(self, token: MediaToken, file_id: str, user: UserContext) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.trashed.append((token.collection, file_id))

    async def start_upload(
        self, token: MediaToken, name: str, size: int, chunk_size: int | None, user: UserContext
    ) -> dict[str, Any]:
        self.started.append((token.collection, name, size, chunk_size))
        return {**UPLOAD, "name": name, "size": size}

    async def upload_state(
        self, token: MediaToken, upload_id: str, user: UserContext
    ) -> dict[str, Any]:
        return {**UPLOAD, "received": [0], "missing": [1]}

    async def complete_upload(
        self, token: MediaToken, upload_id: str, sha256: str | None, user: UserContext
    ) -> dict[str, Any]:
        self.completed.append((token.token, upload_id, sha256))
        return {**FILE, "status": "pending"}

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
    trashing = StandInTrashing()
    app.include_router(build_attachments_router(databases, FixedDataKeys(), media, trashing))
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


def test_deleting_one_attachment_names_the_issue_collection(
    client: TestClient, media: StandInMedia
) -> None:
    make_issue(client, "tenant-a")
    url = f"/rest/issues/issues/OPS-1/attachments/{'a' * 32}"
    deleted = client.delete(url, headers=as_tenant("tenant-a"))
    assert deleted.status_code == 204, deleted.text
    assert media.trashed == [("issues:OPS-1", "a" * 32)]  # kept, unserved, until purged
    assert media.deleted == []
    assert media.tokens == [("tenant-a", "issues:OPS-1", ["read", "delete"], "user-of-tenant-a")]
    unknown = client.delete(url.replace("a" * 32, "b" * 32), headers=as_tenant("tenant-a"))
    assert unknown.status_code == 404 and unknown.json()["error"] == "attachment_not_found"
    not_an_id = client.delete(
        "/rest/issues/issues/OPS-1/attachments/x", headers=as_tenant("tenant-a")
    )
    assert not_an_id.status_code == 404 and not_an_id.json()["error"] == "attachment_not_found"
    media.fail_with = ApiError(404, "attachment_not_found", "this issue has no such attachment")
    gone = client.delete(url, headers=as_tenant("tenant-a"))
    assert gone.status_code == 404 and gone.json()["error"] == "attachment_not_found"
    other = client.delete(url, headers=as_tenant("tenant-b"))
    assert other.status_code == 404 and other.json()["error"] == "issue_not_found"


@pytest.mark.parametrize(
    "response",
    [
        answer(404, {"error": "not_found", "message": "m"}),
        answer(403, {"error": "media_token_wrong_collection", "message": "m"}),
    ],
)
async def test_a_file_of_another_issue_is_not_found_on_this_one(
    response: ServiceResponse,
) -> None:
    """media refuses another collection's file with 403; to this issue it does not exist."""

    class Answering:
        async def call(self, *args: Any, **kwargs: Any) -> ServiceResponse:
            return response

    files = MediaFiles(Answering())  # type: ignore[arg-type]
    user = UserContext("someone", "member")
    tenant = TenantContext("t", "t", "eu", "eu-1", "active")
    with tenant_scope(tenant), pytest.raises(ApiError) as refused:
        await files.delete_file(MediaToken("tok", "issues:OPS-1"), "a" * 32, user)
    assert (refused.value.status, refused.value.code) == (404, "attachment_not_found")


def test_a_chunked_upload_hands_out_a_token_for_that_upload_alone(
    client: TestClient, media: StandInMedia
) -> None:
    make_issue(client, "tenant-a")
    headers = as_tenant("tenant-a")
    base = "/rest/issues/issues/OPS-1/attachments/uploads"
    started = client.post(base, json={"name": "dump.bin", "size": 10}, headers=headers)
    assert started.status_code == 201, started.text
    upload = started.json()
    upload_id = "b" * 32
    assert media.started == [("issues:OPS-1", "dump.bin", 10, None)]
    assert upload["upload_id"] == upload_id and upload["missing"] == [0, 1]
    assert upload["token"] == f"tok.issues:OPS-1.insert.{upload_id}"
    assert upload["expires_at"] == 1234
    assert upload["chunk_url"] == (
        f"/rest/media/uploads/{upload_id}/chunks/{{index}}?token=tok.issues%3AOPS-1.insert.{upload_id}"
    )
    assert upload["complete_url"] == f"{base}/{upload_id}/complete"
    resumed = client.get(f"{base}/{upload_id}", headers=headers)
    assert resumed.status_code == 200 and resumed.json()["missing"] == [1]
    done = client.post(f"{base}/{upload_id}/complete", params={"sha256": "f" * 64}, headers=headers)
    assert done.status_code == 201 and done.json()["id"] == "a" * 32
    assert media.completed == [(f"tok.issues:OPS-1.insert.{upload_id}", upload_id, "f" * 64)]


@pytest.mark.parametrize(
    "body",
    [
        {"name": "a", "size": "10"},
        {"name": "a", "size": -1},
        {"name": "", "size": 1},
        {"name": "\u202eexe.txt", "size": 1},
        {"name": "a\x00", "size": 1},
        {"size": 1},
        {"name": "a", "size": 1, "surprise": True},
    ],
)
def test_bad_upload_requests_never_reach_media(
    client: TestClient, media: StandInMedia, body: Any
) -> None:
    make_issue(client, "tenant-a")
    refused = client.post(
        "/rest/issues/issues/OPS-1/attachments/uploads", json=body, headers=as_tenant("tenant-a")
    )
    assert refused.status_code == 422, refused.text
    assert media.started == [] and media.tokens == []


def test_a_viewer_cannot_add_or_delete(client: TestClient, media: StandInMedia) -> None:
    make_issue(client, "tenant-a")
    headers = {**as_tenant("tenant-a"), "x-test-role": "viewer"}
    base = "/rest/issues/issues/OPS-1/attachments"
    for method, path, kwargs in (
        ("POST", base, {"files": {"file": ("a", b"a")}}),
        ("DELETE", f"{base}/{'a' * 32}", {}),
        ("POST", f"{base}/uploads", {"json": {"name": "a", "size": 1}}),
        ("POST", f"{base}/uploads/{'b' * 32}/complete", {}),
    ):
        refused = client.request(method, path, headers=headers, **kwargs)
        assert refused.status_code == 403, (method, path, refused.text)
        assert refused.json()["error"] == "member_required"
    assert media.tokens == [] and media.uploads == [] and media.deleted == []
