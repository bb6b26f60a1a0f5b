"""The media API on both blob stores: uploads (single and chunked), downloads, previews, token
scope, encryption at rest, integrity, limits, and processing status."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from .conftest import LIMITS
from .harness import MediaHarness, expired_token

PLAINTEXT = b"quarterly numbers: revenue 4.2M, confidential. " * 2000


def png_with_metadata() -> bytes:
    image = Image.new("RGB", (64, 48), (200, 30, 30))
    out = io.BytesIO()
    exif = Image.Exif()
    exif[0x010E] = "secret description"  # ImageDescription
    image.save(out, format="JPEG", exif=exif.tobytes())
    return out.getvalue()


def stored_bytes(harness: MediaHarness) -> bytes:
    """Every byte the blob store holds (local files or S3 objects), concatenated."""
    store: Any = harness.store
    if hasattr(store, "root"):
        return b"".join(p.read_bytes() for p in Path(store.root).rglob("*") if p.is_file())
    client, bucket = store._client, store.bucket
    listed = client.list_objects_v2(Bucket=bucket).get("Contents", [])
    return b"".join(client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listed)


def test_upload_download_round_trip(harness: MediaHarness) -> None:
    created = harness.upload(PLAINTEXT, name="report.pdf")
    assert created.status_code == 201, created.text
    file = created.json()
    assert file["name"] == "report.pdf"
    assert file["size"] == len(PLAINTEXT)
    assert file["sha256"] == hashlib.sha256(PLAINTEXT).hexdigest()
    assert file["status"] == "pending"
    assert file["media_type"] == "application/octet-stream"  # declared pdf, sniffed otherwise
    download = harness.request("GET", f"/files/{file['id']}/content", token=harness.token())
    assert download.status_code == 200
    assert download.content == PLAINTEXT
    assert download.headers["content-disposition"] == "attachment; filename*=UTF-8''report.pdf"
    assert download.headers["x-content-type-options"] == "nosniff"
    listed = harness.request("GET", "/collections/issues:OPS-1/files", token=harness.token())
    assert [f["id"] for f in listed.json()["files"]] == [file["id"]]


def test_raw_body_upload_and_delete(harness: MediaHarness) -> None:
    created = harness.request(
        "POST",
        "/collections/issues:OPS-1/files",
        token=harness.token(),
        params={"name": "notes.txt"},
        content=b"plain notes",
        headers={"content-type": "application/octet-stream"},
    )
    assert created.status_code == 201, created.text
    file_id = created.json()["id"]
    harness.settle()
    deleted = harness.request("DELETE", f"/files/{file_id}", token=harness.token())
    assert deleted.status_code == 204
    gone = harness.request("GET", f"/files/{file_id}", token=harness.token())
    assert gone.status_code == 404
    assert b"plain notes" not in stored_bytes(harness)
    assert stored_bytes(harness) == b""  # original and artifacts all removed


def test_no_plaintext_at_rest(harness: MediaHarness) -> None:
    jpeg = png_with_metadata()
    harness.upload(PLAINTEXT, name="a.txt")
    created = harness.upload(jpeg, name="photo.jpg").json()
    assert harness.wait_status(created["id"])["status"] == "succeeded"
    raw = stored_bytes(harness)
    assert raw  # something was stored
    assert b"quarterly numbers" not in raw
    assert b"secret description" not in raw
    assert b"\x89PNG" not in raw  # previews are sealed too
    assert jpeg[:64] not in raw


def test_image_preview_is_clean_png(harness: MediaHarness) -> None:
    created = harness.upload(png_with_metadata(), name="photo.jpg").json()
    status = harness.wait_status(created["id"])
    assert status["status"] == "succeeded", status
    assert status["preview_pages"] == 1
    page = harness.request("GET", f"/files/{created['id']}/preview/1", token=harness.token())
    assert page.status_code == 200
    assert page.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(page.content)) as image:
        assert image.format == "PNG"
        assert not image.getexif()
        assert b"secret description" not in page.content
    thumb = harness.request("GET", f"/files/{created['id']}/thumbnail", token=harness.token())
    assert thumb.status_code == 200 and thumb.content.startswith(b"\x89PNG")
    missing = harness.request("GET", f"/files/{created['id']}/preview/2", token=harness.token())
    assert missing.status_code == 404


def test_unsupported_type_goes_pending_then_failed(harness: MediaHarness) -> None:
    created = harness.upload(b"\x00\x01binary blob of no known kind", name="x.docx").json()
    assert created["status"] == "pending"
    status = harness.wait_status(created["id"])
    assert status["status"] == "failed"
    assert status["reason"] == "unsupported_type"
    preview = harness.request("GET", f"/files/{created['id']}/preview/1", token=harness.token())
    assert preview.status_code == 409
    assert preview.json()["error"] == "preview_failed"


def test_a_file_of_no_previewable_type_is_kept_with_no_preview_pages(
    harness: MediaHarness,
) -> None:
    data = b"plain notes, no preview for text\n" * 10
    created = harness.upload(data, name="notes.txt")
    assert created.status_code == 201, created.text
    status = harness.wait_status(created.json()["id"])
    assert (status["status"], status["reason"], status["preview_pages"]) == (
        "failed",
        "unsupported_type",
        0,
    )
    listed = harness.request("GET", "/collections/issues:OPS-1/files", token=harness.token())
    assert [f["preview_pages"] for f in listed.json()["files"]] == [0]
    download = harness.request("GET", f"/files/{status['id']}/content", token=harness.token())
    assert download.content == data


def test_an_empty_file_is_refused_and_nothing_is_stored(harness: MediaHarness) -> None:
    multipart = harness.upload(b"", name="empty.png")
    assert multipart.status_code == 422, multipart.text
    assert multipart.json()["error"] == "empty_file"
    raw = harness.request(
        "POST",
        "/collections/issues:OPS-1/files",
        token=harness.token(),
        params={"name": "empty.bin"},
        content=b"",
    )
    assert raw.status_code == 422 and raw.json()["error"] == "empty_file"
    chunked = harness.request(
        "POST",
        "/collections/issues:OPS-1/uploads",
        token=harness.token(),
        json={"name": "empty.bin", "size": 0},
    )
    assert chunked.status_code == 422 and chunked.json()["error"] == "empty_file"
    listed = harness.request("GET", "/collections/issues:OPS-1/files", token=harness.token())
    assert listed.json()["files"] == []
    assert stored_bytes(harness) == b""
    # Nothing was charged to the quota either: the whole quota is still there.
    size = LIMITS.max_file_bytes
    for _ in range(LIMITS.quota_bytes // size):
        assert harness.upload(b"q" * size).status_code == 201


def test_a_second_file_field_is_refused(harness: MediaHarness) -> None:
    two = harness.request(
        "POST",
        "/collections/issues:OPS-1/files",
        token=harness.token(),
        files=[("file", ("a.txt", b"first", "text/plain")), ("file", ("b.txt", b"second"))],
    )
    assert two.status_code == 400, two.text
    assert two.json()["error"] == "duplicate_file_field"
    assert (
        harness.request("GET", "/collections/issues:OPS-1/files", token=harness.token()).json()[
            "files"
        ]
        == []
    )
    # Other fields beside the one file are still fine.
    with_note = harness.request(
        "POST",
        "/collections/issues:OPS-1/files",
        token=harness.token(),
        files=[("note", ("n", b"ignored")), ("file", ("a.txt", b"first", "text/plain"))],
    )
    assert with_note.status_code == 201, with_note.text


@pytest.mark.parametrize(
    "name", ["\u202egnp.exe", "red\x1b[31m.txt", "nul\x00.txt", "tab\tin.txt", "a\nb.txt"]
)
def test_file_names_with_control_or_bidi_characters_are_refused(
    harness: MediaHarness, name: str
) -> None:
    # Built by hand: HTTP clients percent-encode such names; a hostile one sends them raw.
    body = (
        b'--b0undary\r\nContent-Disposition: form-data; name="file"; filename="'
        + name.encode()
        + b'"\r\nContent-Type: text/plain\r\n\r\ndata\r\n--b0undary--\r\n'
    )
    refused = harness.request(
        "POST",
        "/collections/issues:OPS-1/files",
        token=harness.token(),
        content=body,
        headers={"content-type": "multipart/form-data; boundary=b0undary"},
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"] == "invalid_request"
    as_query = harness.request(
        "POST",
        "/collections/issues:OPS-1/files",
        token=harness.token(),
        params={"name": name},
        content=b"data",
    )
    assert as_query.status_code == 422
    chunked = harness.request(
        "POST",
        "/collections/issues:OPS-1/uploads",
        token=harness.token(),
        json={"name": name, "size": 4},
    )
    assert chunked.status_code == 422
    kept = harness.upload(b"data", name="kept.txt").json()
    renamed = harness.request(
        "PATCH", f"/files/{kept['id']}", token=harness.token(), json={"name": name}
    )
    assert renamed.status_code == 422
    listed = harness.request("GET", "/collections/issues:OPS-1/files", token=harness.token())
    assert [f["name"] for f in listed.json()["files"]] == ["kept.txt"]


def test_path_traversal_name_is_only_a_display_name(harness: MediaHarness) -> None:
    created = harness.upload(b"%PDF-1.4 data", name="../../etc/passwd").json()
    assert created["name"] == "passwd"
    assert created["status"] == "failed" and created["reason"] == "invalid_name"
    again = harness.request("GET", f"/files/{created['id']}", token=harness.token()).json()
    assert again["name"] == "passwd" and again["reason"] == "invalid_name"
    download = harness.request("GET", f"/files/{created['id']}/content", token=harness.token())
    assert download.content == b"%PDF-1.4 data"
    store: Any = harness.store
    if hasattr(store, "root"):
        assert not [p for p in Path(store.root).parent.rglob("passwd*")]


# -- chunked uploads -------------------------------------------------------------------------


def chunk_url(upload: dict[str, Any], index: int) -> str:
    return f"/uploads/{upload['id']}/chunks/{index}"


def test_chunked_upload_with_resume(harness: MediaHarness) -> None:
    data = os.urandom(3 * 65536 + 100)
    token = harness.token()
    started = harness.request(
        "POST",
        "/collections/issues:OPS-1/uploads",
        token=token,
        json={"name": "big.bin", "size": len(data), "chunk_size": 65536},
    )
    assert started.status_code == 201, started.text
    upload = started.json()
    assert upload["chunks"] == 4 and upload["missing"] == [0, 1, 2, 3]
    pieces = [data[i : i + 65536] for i in range(0, len(data), 65536)]
    for index in (0, 2):  # the connection "drops" after two chunks
        sent = harness.request(
            "PUT",
            chunk_url(upload, index),
            token=token,
            params={"sha256": hashlib.sha256(pieces[index]).hexdigest()},
            content=pieces[index],
        )
        assert sent.status_code == 200, sent.text
    early = harness.request("POST", f"/uploads/{upload['id']}/complete", token=token)
    assert early.status_code == 409 and early.json()["error"] == "upload_incomplete"
    resumed = harness.request("GET", f"/uploads/{upload['id']}", token=token).json()
    assert resumed["received"] == [0, 2] and resumed["missing"] == [1, 3]
    for index in resumed["missing"]:
        sent = harness.request(
            "PUT",
            chunk_url(upload, index),
            token=token,
            params={"sha256": hashlib.sha256(pieces[index]).hexdigest()},
            content=pieces[index],
        )
        assert sent.status_code == 200
    done = harness.request(
        "POST",
        f"/uploads/{upload['id']}/complete",
        token=token,
        params={"sha256": hashlib.sha256(data).hexdigest()},
    )
    assert done.status_code == 201, done.text
    file = done.json()
    assert file["size"] == len(data) and file["name"] == "big.bin"
    download = harness.request("GET", f"/files/{file['id']}/content", token=token)
    assert download.content == data
    gone = harness.request("GET", f"/uploads/{upload['id']}", token=token)
    assert gone.status_code == 404
    harness.settle()
    assert data[:4096] not in stored_bytes(harness)


def test_chunk_with_wrong_sha256_is_refused(harness: MediaHarness) -> None:
    token = harness.token()
    upload = harness.request(
        "POST",
        "/collections/issues:OPS-1/uploads",
        token=token,
        json={"name": "x", "size": 70000, "chunk_size": 65536},
    ).json()
    piece = os.urandom(65536)
    wrong = harness.request(
        "PUT",
        chunk_url(upload, 0),
        token=token,
        params={"sha256": hashlib.sha256(b"something else").hexdigest()},
        content=piece,
    )
    assert wrong.status_code == 400 and wrong.json()["error"] == "sha256_mismatch"
    short = harness.request(
        "PUT",
        chunk_url(upload, 0),
        token=token,
        params={"sha256": hashlib.sha256(piece[:100]).hexdigest()},
        content=piece[:100],
    )
    assert short.status_code == 400 and short.json()["error"] == "bad_chunk_size"
    beyond = harness.request(
        "PUT",
        chunk_url(upload, 5),
        token=token,
        params={"sha256": hashlib.sha256(piece).hexdigest()},
        content=piece,
    )
    assert beyond.status_code == 400 and beyond.json()["error"] == "bad_chunk_index"
    state = harness.request("GET", f"/uploads/{upload['id']}", token=token).json()
    assert state["received"] == []


# -- token misuse ----------------------------------------------------------------------------


@pytest.fixture
def stored(harness: MediaHarness) -> str:
    created = harness.upload(PLAINTEXT, name="a.txt")
    assert created.status_code == 201
    return str(created.json()["id"])


def test_token_for_another_collection_is_refused(harness: MediaHarness, stored: str) -> None:
    other = harness.token(collection="issues:OPS-2")
    for path in (f"/files/{stored}", f"/files/{stored}/content", f"/files/{stored}/thumbnail"):
        refused = harness.request("GET", path, token=other)
        assert refused.status_code == 403
        assert refused.json()["error"] == "media_token_wrong_collection"
    listed = harness.request("GET", "/collections/issues:OPS-1/files", token=other)
    assert listed.json()["error"] == "media_token_wrong_collection"
    upload = harness.upload(b"x", collection="issues:OPS-1", token=other)
    assert upload.json()["error"] == "media_token_wrong_collection"


def test_token_for_another_tenant_is_refused(harness: MediaHarness, stored: str) -> None:
    theirs = harness.token(tenant="t2")
    refused = harness.request("GET", f"/files/{stored}/content", token=theirs)
    assert refused.status_code == 403 and refused.json()["error"] == "media_token_wrong_tenant"
    # Presented as tenant t2 (its own token), t1's file simply does not exist.
    as_t2 = harness.request("GET", f"/files/{stored}", token=theirs, tenant="t2")
    assert as_t2.status_code == 404


def test_expired_token_is_refused(harness: MediaHarness, stored: str, tmp_path: Path) -> None:
    refused = harness.request("GET", f"/files/{stored}", token=expired_token(tmp_path / "keys"))
    assert refused.status_code == 403 and refused.json()["error"] == "media_token_expired"


def test_missing_action_is_refused(harness: MediaHarness, stored: str) -> None:
    read_only = harness.token(actions=("read",))
    for method, path in (("DELETE", f"/files/{stored}"), ("PATCH", f"/files/{stored}")):
        refused = harness.request(method, path, token=read_only, json={"name": "n"})
        assert refused.status_code == 403
        assert refused.json()["error"] == "media_token_action_denied"
    upload = harness.upload(b"x", token=read_only)
    assert upload.json()["error"] == "media_token_action_denied"
    insert_only = harness.token(actions=("insert",))
    refused = harness.request("GET", f"/files/{stored}/content", token=insert_only)
    assert refused.json()["error"] == "media_token_action_denied"
    assert harness.request("GET", f"/files/{stored}", token=read_only).status_code == 200


def test_forged_and_missing_tokens_are_refused(
    harness: MediaHarness, stored: str, tmp_path: Path
) -> None:
    assert harness.request("GET", f"/files/{stored}").json()["error"] == "media_token_missing"
    token = harness.token()
    head, payload, signature = token.split(".")
    forged = f"{head}.{payload}.{signature[:-4]}AAAA"
    refused = harness.request("GET", f"/files/{stored}", token=forged)
    assert refused.status_code == 403 and refused.json()["error"].startswith("media_token_")
    with pytest.raises(Exception, match="lifetime"):
        harness.tokens.issue(
            tenant="t1",
            site="s",
            collection="issues:OPS-1",
            actions=["read"],
            role="admin",
            lifetime=601,
        )


# -- integrity -------------------------------------------------------------------------------


def original_key(harness: MediaHarness, file_id: str) -> str:
    return f"t1/{file_id}/original"


@pytest.mark.parametrize("size", [1000, 3 * 1024 * 1024])
@pytest.mark.parametrize("damage", ["flip", "truncate", "drop_frame"])
def test_tampered_blob_fails_closed(harness: MediaHarness, size: int, damage: str) -> None:
    data = os.urandom(size)
    file_id = harness.upload(data).json()["id"]
    harness.settle()
    key = original_key(harness, file_id)
    sealed = harness.store.get(key)
    frame = 1024 * 1024 + 16
    if damage == "flip":
        sealed = sealed[:-5] + bytes([sealed[-5] ^ 1]) + sealed[-4:]
    elif damage == "truncate":
        sealed = sealed[: len(sealed) - 20]
    elif size > frame:
        sealed = sealed[:48] + sealed[48 + frame :]  # a whole frame taken out
    else:
        sealed = sealed[:48]
    harness.store.put(key, sealed)
    download = harness.request("GET", f"/files/{file_id}/content", token=harness.token())
    assert download.status_code == 500
    assert download.json()["error"] == "ciphertext_rejected"
    assert data[:1000] not in download.content


def test_blob_moved_to_another_file_does_not_open(harness: MediaHarness) -> None:
    first = harness.upload(b"first secret").json()["id"]
    second = harness.upload(b"second secret").json()["id"]
    harness.settle()
    harness.store.put(
        original_key(harness, second), harness.store.get(original_key(harness, first))
    )
    moved = harness.request("GET", f"/files/{second}/content", token=harness.token())
    assert moved.status_code == 500 and moved.json()["error"] == "ciphertext_rejected"


# -- limits and settings ---------------------------------------------------------------------


def test_file_size_limit(harness: MediaHarness) -> None:
    refused = harness.upload(b"x" * (LIMITS.max_file_bytes + 1))
    assert refused.status_code == 413 and refused.json()["error"] == "file_too_large"
    too_big = harness.request(
        "POST",
        "/collections/issues:OPS-1/uploads",
        token=harness.token(),
        json={"name": "x", "size": LIMITS.max_file_bytes + 1},
    )
    assert too_big.status_code == 413 and too_big.json()["error"] == "file_too_large"
    assert stored_bytes(harness) == b""


def test_quota(harness: MediaHarness) -> None:
    size = 10 * 1024 * 1024
    for _ in range(LIMITS.quota_bytes // size):
        assert harness.upload(b"q" * size).status_code == 201
    refused = harness.upload(b"q" * size)
    assert refused.status_code == 413 and refused.json()["error"] == "quota_exceeded"
    reserved = harness.request(
        "POST",
        "/collections/issues:OPS-1/uploads",
        token=harness.token(),
        json={"name": "x", "size": size},
    )
    assert reserved.json()["error"] == "quota_exceeded"
    # Another tenant has its own quota.
    other = harness.upload(b"q" * 10, token=harness.token(tenant="t2"), headers={}, tenant="t2")
    assert other.status_code == 201


def test_per_tenant_limits_and_view_only(harness: MediaHarness, stored: str) -> None:
    as_user = {"x-test-role": "member"}
    as_admin = {"x-test-role": "admin"}
    for method in ("PUT", "PATCH"):
        refused = harness.request(method, "/settings", json={"view_only": True}, headers=as_user)
        assert refused.status_code == 403 and refused.json()["error"] == "admin_required"
    changed = harness.request(
        "PATCH", "/settings", json={"view_only": True, "max_file_bytes": 100}, headers=as_admin
    )
    assert changed.status_code == 200, changed.text
    assert changed.json() == {
        "view_only": True,
        "max_file_bytes": 100,
        "quota_bytes": LIMITS.quota_bytes,
    }
    assert harness.upload(b"x" * 101).json()["error"] == "file_too_large"
    user_token = harness.token(role="member")
    denied = harness.request("GET", f"/files/{stored}/content", token=user_token)
    assert denied.status_code == 403 and denied.json()["error"] == "view_only"
    assert harness.request("GET", f"/files/{stored}", token=user_token).status_code == 200
    admin = harness.request("GET", f"/files/{stored}/content", token=harness.token(role="admin"))
    assert admin.status_code == 200 and admin.content == PLAINTEXT
    service = harness.token(role="service")
    assert harness.request("GET", f"/files/{stored}/content", token=service).status_code == 403


def test_view_only_users_do_not_see_the_originals_sha256(
    harness: MediaHarness, stored: str
) -> None:
    digest = hashlib.sha256(PLAINTEXT).hexdigest()
    user = harness.token(role="user")
    admin = harness.token(role="admin")
    assert harness.request("GET", f"/files/{stored}", token=user).json()["sha256"] == digest
    made = harness.request(
        "PATCH", "/settings", json={"view_only": True}, headers={"x-test-role": "admin"}
    )
    assert made.status_code == 200, made.text
    seen = [
        harness.request("GET", f"/files/{stored}", token=user).json(),
        harness.request("GET", "/collections/issues:OPS-1/files", token=user).json()["files"][0],
        harness.upload(b"another", token=user).json(),
        harness.request("PATCH", f"/files/{stored}", token=user, json={"name": "b.txt"}).json(),
    ]
    for document in seen:
        assert "sha256" not in document, document
        assert digest not in str(document)
    assert harness.request("GET", f"/files/{stored}", token=admin).json()["sha256"] == digest


def settings_as_admin(harness: MediaHarness, method: str, body: Any) -> Any:
    return harness.request(method, "/settings", json=body, headers={"x-test-role": "admin"})


def test_patching_one_setting_keeps_the_others(harness: MediaHarness) -> None:
    first = settings_as_admin(harness, "PATCH", {"view_only": True})
    assert first.status_code == 200, first.text
    quota = settings_as_admin(harness, "PATCH", {"quota_bytes": 1000})
    assert quota.json() == {
        "view_only": True,
        "max_file_bytes": LIMITS.max_file_bytes,
        "quota_bytes": 1000,
    }
    back = settings_as_admin(harness, "PATCH", {"quota_bytes": None})
    assert back.json()["quota_bytes"] == LIMITS.quota_bytes
    assert back.json()["view_only"] is True
    assert harness.request("GET", "/settings").json() == back.json()


def test_put_replaces_every_setting_and_needs_them_all(harness: MediaHarness) -> None:
    settings_as_admin(harness, "PATCH", {"view_only": True, "max_file_bytes": 500})
    for partial in ({"quota_bytes": 1000}, {"view_only": False}, {}):
        refused = settings_as_admin(harness, "PUT", partial)
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"] == "invalid_request"
    assert harness.request("GET", "/settings").json()["view_only"] is True
    replaced = settings_as_admin(
        harness, "PUT", {"view_only": False, "max_file_bytes": None, "quota_bytes": 1000}
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json() == {
        "view_only": False,
        "max_file_bytes": LIMITS.max_file_bytes,
        "quota_bytes": 1000,
    }


@pytest.mark.parametrize(
    "body",
    [
        {"view_only": "yes"},
        {"view_only": 1},
        {"view_only": None},
        {"max_file_bytes": "100"},
        {"max_file_bytes": 100.0},
        {"max_file_bytes": True},
        {"max_file_bytes": 0},
        {"quota_bytes": -1},
        {"surprise": 1},
        {},
        [],
    ],
)
def test_settings_types_are_strict(harness: MediaHarness, body: Any) -> None:
    refused = settings_as_admin(harness, "PATCH", body)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"] == "invalid_request"
    assert harness.request("GET", "/settings").json()["view_only"] is False


@pytest.mark.parametrize(
    "body",
    [
        {"max_file_bytes": 99999999999999999999},
        {"max_file_bytes": LIMITS.max_file_bytes + 1},
        {"quota_bytes": LIMITS.quota_bytes + 1},
        {"quota_bytes": 2**63},
    ],
)
def test_a_site_cannot_raise_its_limits_above_the_operators(
    harness: MediaHarness, body: Any
) -> None:
    for method in ("PATCH", "PUT"):
        whole = {"view_only": True, "max_file_bytes": None, "quota_bytes": None, **body}
        refused = settings_as_admin(harness, method, body if method == "PATCH" else whole)
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"] == "above_operator_limit"
    assert harness.request("GET", "/settings").json() == {
        "view_only": False,
        "max_file_bytes": LIMITS.max_file_bytes,
        "quota_bytes": LIMITS.quota_bytes,
    }
    at_the_limit = settings_as_admin(harness, "PATCH", {"max_file_bytes": LIMITS.max_file_bytes})
    assert at_the_limit.status_code == 200


def issue(harness: MediaHarness, body: dict[str, Any], role: str | None = "member") -> Any:
    headers = {"x-test-tenant": "t1"}
    if role is not None:
        headers["x-test-role"] = role
    return harness.client.post("/internal/media/tokens", json=body, headers=headers)


def test_issued_tokens_carry_scope_and_role(harness: MediaHarness, stored: str) -> None:
    issued = issue(harness, {"collection": "issues:OPS-1", "actions": ["read"], "lifetime": 60})
    assert issued.status_code == 201, issued.text
    document = issued.json()
    assert document["collection"] == "issues:OPS-1" and document["actions"] == ["read"]
    grant = harness.tokens.verify(document["token"])
    assert (grant.tenant, grant.collection, grant.role) == ("t1", "issues:OPS-1", "member")
    assert grant.account == "account-1"
    assert grant.actions == {"read"}
    token = document["token"]
    assert harness.request("GET", f"/files/{stored}", token=token).status_code == 200
    delete = harness.request("DELETE", f"/files/{stored}", token=token)
    assert delete.json()["error"] == "media_token_action_denied"
    service = issue(harness, {"collection": "issues:OPS-1", "actions": ["read"]}, role=None)
    assert harness.tokens.verify(service.json()["token"]).role == "service"
    assert harness.tokens.verify(service.json()["token"]).account is None


def test_on_a_view_only_site_a_link_counts_with_its_accounts_role_now(
    harness: MediaHarness, stored: str
) -> None:
    """A link issued to an admin who is a member now downloads nothing: the request carries
    the account's current role (the edge forwards it), and that is what counts."""
    as_admin = {"x-test-role": "admin"}
    set_view_only = harness.request(
        "PATCH", "/settings", json={"view_only": True}, headers=as_admin
    )
    assert set_view_only.status_code == 200, set_view_only.text
    issued = issue(harness, {"collection": "issues:OPS-1", "actions": ["read"]}, role="admin")
    link = issued.json()["token"]
    assert harness.tokens.verify(link).role == "admin"
    path = f"/files/{stored}/content"

    demoted = harness.request("GET", path, token=link, headers={"x-test-role": "member"})
    assert demoted.status_code == 403 and demoted.json()["error"] == "view_only"
    # Without the account's current role (no user on the request) the link is not trusted.
    anonymous = harness.request("GET", path, token=link)
    assert anonymous.status_code == 403 and anonymous.json()["error"] == "view_only"
    still_admin = harness.request("GET", path, token=link, headers=as_admin)
    assert still_admin.status_code == 200 and still_admin.content == PLAINTEXT


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"collection": "issues:OPS-1", "actions": ["read"], "lifetime": 601}, "invalid_request"),
        ({"collection": "issues:OPS-1", "actions": ["admin"]}, "invalid_actions"),
        ({"collection": "issues:OPS-1", "actions": []}, "invalid_request"),
        ({"collection": "../etc", "actions": ["read"]}, "invalid_collection"),
    ],
)
def test_bad_token_requests_are_refused(harness: MediaHarness, body: Any, code: str) -> None:
    refused = issue(harness, body)
    assert refused.status_code in (400, 422)
    assert refused.json()["error"] == code


# -- tokens for one upload -------------------------------------------------------------------


def start(harness: MediaHarness, size: int = 70000, collection: str = "issues:OPS-1") -> Any:
    started = harness.request(
        "POST",
        f"/collections/{collection}/uploads",
        token=harness.token(collection=collection),
        json={"name": "part.bin", "size": size, "chunk_size": 65536},
    )
    assert started.status_code == 201, started.text
    return started.json()


def test_a_token_for_one_upload_serves_that_upload_alone(harness: MediaHarness) -> None:
    mine, other = start(harness), start(harness)
    issued = issue(
        harness,
        {"collection": "issues:OPS-1", "actions": ["insert"], "upload": mine["id"]},
        role="user",
    )
    assert issued.status_code == 201, issued.text
    scoped = issued.json()["token"]
    assert harness.tokens.verify(scoped).upload == mine["id"]
    data = os.urandom(70000)
    pieces = [data[:65536], data[65536:]]
    for index, piece in enumerate(pieces):
        sent = harness.request(
            "PUT",
            chunk_url(mine, index),
            token=scoped,
            params={"sha256": hashlib.sha256(piece).hexdigest()},
            content=piece,
        )
        assert sent.status_code == 200, sent.text
    # Not for another upload of the same collection, nor for the collection itself.
    for method, path, kwargs in (
        ("GET", f"/uploads/{other['id']}", {}),
        ("PUT", chunk_url(other, 0), {"params": {"sha256": "0" * 64}, "content": b"x"}),
        ("POST", f"/uploads/{other['id']}/complete", {}),
        ("DELETE", f"/uploads/{other['id']}", {}),
        ("POST", "/collections/issues:OPS-1/uploads", {"json": {"name": "x", "size": 5}}),
        ("POST", "/collections/issues:OPS-1/files", {"files": {"file": ("a", b"a")}}),
    ):
        refused = harness.request(method, path, token=scoped, **kwargs)
        assert refused.status_code == 403, (method, path, refused.text)
        assert refused.json()["error"] == "media_token_wrong_upload"
    done = harness.request("POST", f"/uploads/{mine['id']}/complete", token=scoped)
    assert done.status_code == 201, done.text
    download = harness.request("GET", f"/files/{done.json()['id']}/content", token=harness.token())
    assert download.content == data


def test_a_token_for_an_upload_of_another_collection_is_not_issued(
    harness: MediaHarness,
) -> None:
    theirs = start(harness, collection="issues:OPS-2")
    refused = issue(
        harness, {"collection": "issues:OPS-1", "actions": ["insert"], "upload": theirs["id"]}
    )
    assert refused.status_code == 404 and refused.json()["error"] == "not_found"
    malformed = issue(
        harness, {"collection": "issues:OPS-1", "actions": ["insert"], "upload": "../x"}
    )
    assert malformed.status_code == 422
