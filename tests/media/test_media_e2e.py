"""Media through a real cloud: links that carry only a media token, through any edge."""

from __future__ import annotations

import hashlib
import io
import stat

import pytest
from PIL import Image

from e2e.api import Site, signup
from e2e.cloud import Cloud

from .edge_links import bare, mint, wait_until_processed

pytestmark = pytest.mark.e2e
SECRET = b"board minutes: merger with initech, do not share. " * 500


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 200, 10)).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def site(cloud: Cloud) -> Site:
    return signup(cloud, region="eu", prefix="media")


def test_upload_download_and_preview_with_only_a_token(cloud: Cloud, site: Site) -> None:
    token = mint(cloud, site)
    with bare(cloud, "eu") as http:
        created = http.post(
            "/rest/media/collections/issues:OPS-1/files",
            params={"token": token},
            files={"file": ("minutes.txt", SECRET, "text/plain")},
        )
        assert created.status_code == 201, created.text
        file = created.json()
        assert file["status"] == "pending" and file["size"] == len(SECRET)
        download = http.get(f"/rest/media/files/{file['id']}/content", params={"token": token})
        assert download.status_code == 200, download.text
        assert download.content == SECRET
        assert download.headers["content-disposition"].startswith("attachment;")
        failed = wait_until_processed(http, file["id"], token)
        assert failed["status"] == "failed" and failed["reason"] == "unsupported_type"

        image = http.post(
            "/rest/media/collections/issues:OPS-1/files",
            params={"token": token},
            files={"file": ("pic.png", png(), "application/pdf")},
        ).json()
        assert image["media_type"] == "image/png"
        done = wait_until_processed(http, image["id"], token)
        assert done["status"] == "succeeded", done
        page = http.get(f"/rest/media/files/{image['id']}/preview/1", params={"token": token})
        assert page.status_code == 200 and page.headers["content-type"] == "image/png"
        assert page.content.startswith(b"\x89PNG")
        thumb = http.get(f"/rest/media/files/{image['id']}/thumbnail", params={"token": token})
        assert thumb.status_code == 200
    # The same link works through another region's edge (forwarded to the home region).
    with bare(cloud, "us") as far:
        again = far.get(f"/rest/media/files/{file['id']}/content", params={"token": token})
        assert again.status_code == 200 and again.content == SECRET


def test_nothing_readable_at_rest(cloud: Cloud, site: Site) -> None:
    token = mint(cloud, site, "issues:OPS-9")
    with bare(cloud) as http:
        created = http.post(
            "/rest/media/collections/issues:OPS-9/files",
            params={"token": token, "name": "raw.bin"},
            content=SECRET,
            headers={"content-type": "application/octet-stream"},
        )
        assert created.status_code == 201, created.text
    root = cloud.data_dir / "media" / "eu"
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    files = [p for p in root.rglob("*") if p.is_file()]
    assert files
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files)
    for path in files:
        assert b"board minutes" not in path.read_bytes()
    assert hashlib.sha256(SECRET).hexdigest() == created.json()["sha256"]


def test_chunked_upload_through_the_edge(cloud: Cloud, site: Site) -> None:
    token = mint(cloud, site, "issues:OPS-3")
    data = bytes(range(256)) * 1024 + b"tail"
    with bare(cloud) as http:
        started = http.post(
            "/rest/media/collections/issues:OPS-3/uploads",
            params={"token": token},
            json={"name": "data.bin", "size": len(data), "chunk_size": 65536},
        )
        assert started.status_code == 201, started.text
        upload = started.json()
        for index in range(upload["chunks"]):
            piece = data[index * 65536 : (index + 1) * 65536]
            sent = http.put(
                f"/rest/media/uploads/{upload['id']}/chunks/{index}",
                params={"token": token, "sha256": hashlib.sha256(piece).hexdigest()},
                content=piece,
                headers={"content-type": "application/octet-stream"},
            )
            assert sent.status_code == 200, sent.text
        done = http.post(f"/rest/media/uploads/{upload['id']}/complete", params={"token": token})
        assert done.status_code == 201, done.text
        got = http.get(f"/rest/media/files/{done.json()['id']}/content", params={"token": token})
        assert len(got.content) == len(data), (len(got.content), got.headers, done.json())
        assert got.content == data


def test_token_misuse_through_the_edge(cloud: Cloud, site: Site) -> None:
    other = signup(cloud, region="eu", prefix="media-other")
    token = mint(cloud, site, "issues:OPS-5")
    with bare(cloud) as http:
        file_id = http.post(
            "/rest/media/collections/issues:OPS-5/files",
            params={"token": token},
            files={"file": ("a.txt", b"hello", "text/plain")},
        ).json()["id"]
        url = f"/rest/media/files/{file_id}/content"

        def refused(params: dict[str, str], code: str) -> None:
            answer = http.get(url, params=params)
            assert answer.status_code == 403, answer.text
            assert answer.json()["error"] == code

        refused({}, "media_token_missing")
        refused({"token": mint(cloud, site, "issues:OPS-6")}, "media_token_wrong_collection")
        refused(
            {"token": mint(cloud, site, "issues:OPS-5", ("insert",))}, "media_token_action_denied"
        )
        # A token naming this site but another tenant's cloud id: the edge refuses it.
        refused({"token": mint(cloud, site, tenant=other.cloud_id)}, "media_token_wrong_site")
        # The other site's own token reaches only the other site's data.
        theirs = mint(cloud, other, "issues:OPS-5")
        assert http.get(url, params={"token": theirs}).status_code == 404
        head, payload, _ = token.split(".")
        borrowed = mint(cloud, site, "issues:OPS-6").split(".")[2]  # a signature, not this one's
        refused({"token": f"{head}.{payload}.{borrowed}"}, "media_token_bad_signature")
        # A user token is no media token.
        refused({"token": site.token}, "media_token_wrong_audience")
        # A media token is no user token either.
        as_user = http.get(
            "/rest/issues/issues",
            headers={"X-Tenantry-Site": site.name, "Authorization": f"Bearer {token}"},
        )
        assert as_user.status_code == 401


def test_view_only_site(cloud: Cloud) -> None:
    site = signup(cloud, region="eu", prefix="media-view")
    token = mint(cloud, site, "issues:OPS-7")
    with bare(cloud) as http:
        file_id = http.post(
            "/rest/media/collections/issues:OPS-7/files",
            params={"token": token},
            files={"file": ("a.txt", b"eyes only", "text/plain")},
        ).json()["id"]
    as_admin = site.request("PATCH", "/rest/media/settings", json={"view_only": True})
    assert as_admin.status_code == 200, as_admin.text
    assert as_admin.json()["view_only"] is True
    user_token = mint(cloud, site, "issues:OPS-7", ("read",), role="user")
    with bare(cloud) as http:
        denied = http.get(f"/rest/media/files/{file_id}/content", params={"token": user_token})
        assert denied.status_code == 403 and denied.json()["error"] == "view_only"
        meta = http.get(f"/rest/media/files/{file_id}", params={"token": user_token})
        assert meta.status_code == 200
        admin = http.get(f"/rest/media/files/{file_id}/content", params={"token": token})
        assert admin.content == b"eyes only"
