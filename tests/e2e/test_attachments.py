"""Attachments on issues through a real cloud: attach through the edge, list, then load the
preview and download links the listing hands out as a browser would, with no other header."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from PIL import Image

from media_previews.documents import decompression_bomb_png, docx, jpeg_with_gps, pdf, png

from .api import PASSWORD, Site, purge_from_trash, signup
from .cloud import Cloud
from .stored import media_forgot

pytestmark = pytest.mark.e2e
CONTRACT = {"id", "name", "media_type", "size", "status"}
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
GOOD = {
    "chart.png": png(),
    "site-visit.jpg": jpeg_with_gps(),
    "report.pdf": pdf(2),
    "minutes.docx": docx("Minutes of the incident review"),
}


def attach(site: Site, key: str, name: str, data: bytes, **headers: str) -> httpx.Response:
    return site.request(
        "POST",
        f"/rest/issues/issues/{key}/attachments",
        files={"file": (name, data, "application/octet-stream")},
        headers=headers,
    )


def listing(site: Site, key: str, **headers: str) -> httpx.Response:
    return site.request("GET", f"/rest/issues/issues/{key}/attachments", headers=headers)


def processed(site: Site, key: str, count: int, **headers: str) -> dict[str, dict[str, Any]]:
    """The issue's attachments by name once none is pending (bounded: never hangs a run)."""
    deadline = time.monotonic() + 240
    while True:
        answer = listing(site, key, **headers)
        assert answer.status_code == 200, answer.text
        files = answer.json()["attachments"]
        assert len(files) == count, files
        if all(f["status"] != "pending" for f in files) or time.monotonic() > deadline:
            return {f["name"]: f for f in files}
        time.sleep(0.3)


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


def with_token(url: str, token: str) -> str:
    return url.split("?", 1)[0] + "?token=" + token


@pytest.fixture(scope="module")
def site(cloud: Cloud) -> Site:
    made = signup(cloud, region="eu", prefix="attach")
    made.create_project()
    made.create_issue("Outage on db-1")
    return made


NOTES = b"plain notes: no preview is made for text\n" * 20


@pytest.fixture(scope="module")
def attached(site: Site) -> dict[str, dict[str, Any]]:
    """OPS-1 with four good files, a decompression bomb and a text file, all processed."""
    for name, data in GOOD.items():
        created = attach(site, "OPS-1", name, data)
        assert created.status_code == 201, created.text
        assert set(created.json()) == CONTRACT
        assert created.json()["size"] == len(data)
        assert created.json()["status"] == "pending"
    assert attach(site, "OPS-1", "bomb.png", decompression_bomb_png()).status_code == 201
    assert attach(site, "OPS-1", "notes.txt", NOTES).status_code == 201
    return processed(site, "OPS-1", len(GOOD) + 2)


def test_each_file_gets_previews_and_downloads_as_plain_links(
    cloud: Cloud, attached: dict[str, dict[str, Any]]
) -> None:
    media_types = {name: attached[name]["media_type"] for name in GOOD}
    assert media_types == {
        "chart.png": "image/png",
        "site-visit.jpg": "image/jpeg",
        "report.pdf": "application/pdf",
        "minutes.docx": DOCX,
    }
    with cloud.http("eu") as plain, cloud.http("us") as far:
        for name, data in GOOD.items():
            file = attached[name]
            assert file["status"] == "succeeded", file
            assert file["preview_pages"] >= 1
            assert "{page}" in file["preview_url"]
            for url in (file["preview_url"], file["download_url"]):
                assert url.startswith("/rest/media/") and token_of(url)
            page = plain.get(file["preview_url"].replace("{page}", "1"))
            assert page.status_code == 200, page.text
            assert page.headers["content-type"] == "image/png"
            preview = Image.open(io.BytesIO(page.content))
            assert preview.format == "PNG"
            download = plain.get(file["download_url"])
            assert download.status_code == 200, download.text
            assert download.content == data
            # The same links work through another region's edge.
            assert far.get(file["download_url"]).content == data
        report = attached["report.pdf"]
        assert report["preview_pages"] == 2
        assert plain.get(report["preview_url"].replace("{page}", "2")).status_code == 200
        assert plain.get(report["preview_url"].replace("{page}", "3")).status_code == 404


def test_the_jpeg_preview_keeps_no_exif(cloud: Cloud, attached: dict[str, dict[str, Any]]) -> None:
    assert Image.open(io.BytesIO(GOOD["site-visit.jpg"])).getexif()  # the original has it
    with cloud.http("eu") as plain:
        page = plain.get(attached["site-visit.jpg"]["preview_url"].replace("{page}", "1"))
    preview = Image.open(io.BytesIO(page.content))
    assert not preview.getexif()
    assert "exif" not in preview.info
    assert b"SpyCam" not in page.content and b"Exif" not in page.content


def test_hostile_files_fail_with_a_reason(attached: dict[str, dict[str, Any]]) -> None:
    bomb = attached["bomb.png"]
    assert bomb["status"] == "failed" and bomb["reason"] == "image_too_large", bomb
    assert bomb["preview_pages"] == 0


def test_a_type_with_no_preview_is_kept_and_listed_with_no_pages(
    cloud: Cloud, attached: dict[str, dict[str, Any]]
) -> None:
    notes = attached["notes.txt"]
    assert (notes["status"], notes["reason"], notes["preview_pages"]) == (
        "failed",
        "unsupported_type",
        0,
    )
    with cloud.http("eu") as plain:
        assert plain.get(notes["download_url"]).content == NOTES
        page = plain.get(notes["preview_url"].replace("{page}", "1"))
        assert page.status_code == 409 and page.json()["error"] == "preview_failed"


def test_an_empty_file_is_refused_and_nothing_is_stored(cloud: Cloud, site: Site) -> None:
    key = site.create_issue("Nothing attached")["key"]
    refused = attach(site, key, "empty.txt", b"")
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"] == "empty_file"
    assert listing(site, key).json()["attachments"] == []
    collection = cloud.data_dir / "media" / site.region / site.cloud_id
    before = sorted(p.name for p in collection.iterdir()) if collection.exists() else []
    assert attach(site, key, "empty.txt", b"").status_code == 422
    after = sorted(p.name for p in collection.iterdir()) if collection.exists() else []
    assert after == before


def test_a_second_file_field_is_refused(site: Site) -> None:
    key = site.create_issue("Two files at once")["key"]
    two = site.request(
        "POST",
        f"/rest/issues/issues/{key}/attachments",
        files=[("file", ("a.png", png())), ("file", ("b.pdf", pdf(1)))],
    )
    assert two.status_code == 400, two.text
    assert two.json()["error"] == "duplicate_file_field"
    assert listing(site, key).json()["attachments"] == []


def test_another_site_cannot_reach_the_issue(
    cloud: Cloud, site: Site, attached: dict[str, dict[str, Any]]
) -> None:
    other = signup(cloud, region="eu", prefix="attach-other")
    issue_id = site.request("GET", "/rest/issues/issues/OPS-1").json()["id"]
    for ref in ("OPS-1", issue_id):
        refused = listing(other, ref)
        assert refused.status_code == 404 and refused.json()["error"] == "issue_not_found"
        refused = attach(other, ref, "x.png", png())
        assert refused.status_code == 404 and refused.json()["error"] == "issue_not_found"
    # Its own OPS-1 is another issue, with another collection: none of the first site's files.
    other.create_project()
    other.create_issue("Printer on fire")
    assert listing(other, "OPS-1").json()["attachments"] == []
    assert attach(other, "OPS-1", "own.png", png()).status_code == 201
    own = processed(other, "OPS-1", 1)["own.png"]

    # The first site's links with the other site's (genuine) token: its tenant has no such file.
    others_token = token_of(own["download_url"])
    with cloud.http("eu") as plain:
        for file in attached.values():
            for url in (file["preview_url"].replace("{page}", "1"), file["download_url"]):
                swapped = plain.get(with_token(url, others_token))
                assert swapped.status_code == 404, swapped.text
                assert swapped.json()["error"] == "not_found"
        # Named for the first site, the other site's token is refused outright.
        named = plain.get(
            with_token(attached["chart.png"]["download_url"], others_token),
            headers={"X-Tenantry-Site": site.name},
        )
        assert named.status_code == 403 and named.json()["error"] == "media_token_wrong_site"


def edited(token: str, **claims: str) -> str:
    """The token with some claims changed and its signature kept."""
    header, payload, signature = token.split(".")
    document = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    document.update(claims)
    encoded = base64.urlsafe_b64encode(json.dumps(document).encode()).rstrip(b"=").decode()
    return f"{header}.{encoded}.{signature}"


def test_edited_or_missing_tokens_are_refused(
    cloud: Cloud, site: Site, attached: dict[str, dict[str, Any]]
) -> None:
    url = attached["chart.png"]["preview_url"].replace("{page}", "1")
    token = token_of(url)
    with cloud.http("eu") as plain:
        for forged in (
            edited(token, collection="issues:OPS-2"),
            edited(token, role="admin", collection="issues:OPS-1"),
            edited(token, site="someone-else"),
        ):
            refused = plain.get(with_token(url, forged))
            assert refused.status_code == 403, refused.text
            assert refused.json()["error"] == "media_token_bad_signature"
        bare = plain.get(url.split("?", 1)[0])
        assert bare.status_code == 403 and bare.json()["error"] == "media_token_missing"
        # A read link cannot be turned into an upload or a deletion.
        file_id = attached["chart.png"]["id"]
        deleted = plain.delete(f"/rest/media/files/{file_id}", params={"token": token})
        assert deleted.status_code == 403
        assert deleted.json()["error"] == "media_token_action_denied"
        assert plain.get(url).status_code == 200


def test_unknown_issues_and_bad_bodies_are_clear_errors(site: Site) -> None:
    for answer in (listing(site, "OPS-999"), attach(site, "OPS-999", "a.png", png())):
        assert answer.status_code == 404 and answer.json()["error"] == "issue_not_found"
    assert listing(site, "not a key").status_code in (400, 422)
    raw = site.request(
        "POST",
        "/rest/issues/issues/OPS-1/attachments",
        content=png(),
        headers={"content-type": "image/png"},
    )
    assert raw.status_code == 415 and raw.json()["error"] == "unsupported_media_type"
    unnamed = site.request(
        "POST", "/rest/issues/issues/OPS-1/attachments", files={"other": ("a.png", png())}
    )
    assert unnamed.status_code == 422 and unnamed.json()["error"] == "file_required"
    anonymous = site.http.post(
        "/rest/issues/issues/OPS-1/attachments",
        headers={"X-Tenantry-Site": site.name},
        files={"file": ("a.png", png())},
    )
    assert anonymous.status_code == 401


def test_view_only_sites_show_previews_but_not_originals(cloud: Cloud) -> None:
    admin = signup(cloud, region="eu", prefix="attach-view")
    admin.create_project()
    admin.create_issue("Contract review")
    assert attach(admin, "OPS-1", "plan.png", png()).status_code == 201
    settings = admin.request(
        "PATCH", "/rest/media/settings", json={"view_only": True, "max_file_bytes": 4096}
    )
    assert settings.status_code == 200, settings.text

    email = f"dev@{admin.name}.test"
    added = admin.request(
        "POST", "/rest/identity/accounts", json={"email": email, "password": PASSWORD}
    )
    assert added.status_code == 201, added.text
    login = admin.http.post(
        "/login", json={"site": admin.name, "email": email, "password": PASSWORD}
    )
    assert login.status_code == 200, login.text
    member = {"Authorization": f"Bearer {login.json()['token']}"}

    seen = processed(admin, "OPS-1", 1, **member)["plan.png"]
    assert seen["status"] == "succeeded", seen
    with cloud.http("eu") as plain:
        page = plain.get(seen["preview_url"].replace("{page}", "1"))
        assert page.status_code == 200 and page.headers["content-type"] == "image/png"
        refused = plain.get(seen["download_url"])
        assert refused.status_code == 403 and refused.json()["error"] == "view_only"
        # The admin's own links still download.
        mine = processed(admin, "OPS-1", 1)["plan.png"]
        assert plain.get(mine["download_url"]).content == png()

    # The member's media links do not give the original's sha256 away either; the admin's do.
    with cloud.http("eu") as plain:
        member_token = token_of(seen["download_url"])
        meta = plain.get(f"/rest/media/files/{seen['id']}", params={"token": member_token})
        assert meta.status_code == 200, meta.text
        assert "sha256" not in meta.json()
        listed = plain.get(
            "/rest/media/collections/issues:OPS-1/files", params={"token": member_token}
        )
        assert all("sha256" not in file for file in listed.json()["files"])
        admin_token = token_of(mine["download_url"])
        theirs = plain.get(f"/rest/media/files/{seen['id']}", params={"token": admin_token})
        assert theirs.json()["sha256"] == hashlib.sha256(png()).hexdigest()

    # Media's own limits come back with their status and reason.
    too_big = attach(admin, "OPS-1", "big.bin", b"x" * 5000, **member)
    assert too_big.status_code == 413 and too_big.json()["error"] == "file_too_large"
    assert len(listing(admin, "OPS-1").json()["attachments"]) == 1


def test_the_edge_takes_large_files_only_on_the_attachment_route(site: Site) -> None:
    site.create_issue("Large logs")
    logs = bytes(range(256)) * (3 * 4096)  # 3 MiB, over the 1 MiB of JSON routes
    made = attach(site, "OPS-2", "logs.bin", logs)
    assert made.status_code == 201, made.text
    assert made.json()["size"] == len(logs)
    comment = site.request(
        "POST", "/rest/issues/issues/OPS-2/comments", json={"body": "x" * len(logs)}
    )
    assert comment.status_code == 413 and comment.json()["error"] == "body_too_large"
    as_json = site.request("POST", "/rest/issues/issues/OPS-2/attachments", json={"file": "x"})
    assert as_json.status_code == 415 and as_json.json()["error"] == "unsupported_media_type"


# -- large downloads, damaged blobs, deleted issues ------------------------------------------

MIB = 1024 * 1024


def stored_file(cloud: Cloud, site: Site, file_id: str) -> Path:
    """Where the local blob store keeps a file's objects (the cloud's default media store)."""
    return cloud.data_dir / "media" / site.region / site.cloud_id / file_id


def fetch(http: httpx.Client, url: str) -> tuple[int | None, bytes, bool]:
    """Stream a download: (status, bytes received, whether it completed)."""
    received = bytearray()
    status = None
    try:
        with http.stream("GET", url) as answer:
            status = answer.status_code
            for piece in answer.iter_raw():
                received += piece
    except httpx.TransportError:
        return status, bytes(received), False
    return status, bytes(received), True


def test_a_large_download_streams_whole_and_a_damaged_one_fails_closed(
    cloud: Cloud, site: Site
) -> None:
    key = site.create_issue("Core dump")["key"]
    data = os.urandom(12 * MIB)
    made = attach(site, key, "core.bin", data)
    assert made.status_code == 201, made.text
    file = processed(site, key, 1)["core.bin"]
    with cloud.http("eu") as plain, cloud.http("au") as far:
        for http in (plain, far):
            status, body, complete = fetch(http, file["download_url"])
            assert (status, complete) == (200, True)
            assert body == data
        original = stored_file(cloud, site, file["id"]) / "original"
        sealed = original.read_bytes()
        frame = MIB + 16  # each stored frame: 1 MiB of plaintext and its tag
        header = 48
        at = header + 6 * frame + 9  # a byte inside frame 6
        damaged = {
            "truncated": (sealed[:-20], 11),
            "flipped": (sealed[:at] + bytes([sealed[at] ^ 1]) + sealed[at + 1 :], 6),
        }
        for kind, (blob, bad_frame) in damaged.items():
            original.write_bytes(blob)
            status, body, complete = fetch(plain, file["download_url"])
            assert not complete or status == 500, kind
            assert len(body) < len(data), kind
            bad = data[bad_frame * MIB : (bad_frame + 1) * MIB]
            assert bad[:4096] not in body and bad[-4096:] not in body, kind
        original.write_bytes(sealed)
        assert fetch(plain, file["download_url"])[1] == data


def test_deleting_an_issue_deletes_its_attachments(
    cloud: Cloud, site: Site, attached: dict[str, dict[str, Any]]
) -> None:
    key = site.create_issue("Short-lived")["key"]
    for name in ("chart.png", "report.pdf"):
        assert attach(site, key, name, GOOD[name]).status_code == 201
    files = processed(site, key, 2)
    stored = [stored_file(cloud, site, f["id"]) for f in files.values()]
    assert all(path.is_dir() for path in stored)
    issue_id = site.request("GET", f"/rest/issues/issues/{key}").json()["id"]
    deleted = site.request("DELETE", f"/rest/issues/issues/{key}")
    assert deleted.status_code == 204, deleted.text
    with cloud.http("eu") as plain:
        for file in files.values():
            gone = plain.get(file["download_url"])
            assert gone.status_code == 404, gone.text
            assert plain.get(file["preview_url"].replace("{page}", "1")).status_code == 404
        # In the trash the issue's files are kept whole, unserved; purged, media forgets them,
        # and keeps their blobs (retired) for the backup window.
        assert all(path.is_dir() for path in stored)
        purge_from_trash(site, issue_id)
        assert all(media_forgot(cloud, site.cloud_id, f["id"]) for f in files.values())
        assert all(path.is_dir() for path in stored)
        # Another issue's attachments stay.
        kept = plain.get(attached["chart.png"]["download_url"])
        assert kept.status_code == 200 and kept.content == GOOD["chart.png"]


def test_one_attachment_is_deleted_and_no_other(cloud: Cloud, site: Site) -> None:
    first, second = site.create_issue("Two files")["key"], site.create_issue("One file")["key"]
    for key, name in ((first, "chart.png"), (first, "report.pdf"), (second, "chart.png")):
        assert attach(site, key, name, GOOD[name]).status_code == 201
    mine = processed(site, first, 2)
    theirs = processed(site, second, 1)["chart.png"]
    target = mine["chart.png"]
    url = f"/rest/issues/issues/{{key}}/attachments/{target['id']}"

    # Named on another issue, or by another site, the attachment does not exist.
    elsewhere = site.request("DELETE", url.format(key=second))
    assert elsewhere.status_code == 404, elsewhere.text
    assert elsewhere.json()["error"] == "attachment_not_found"
    other = signup(cloud, region="eu", prefix="attach-del")
    assert other.request("DELETE", url.format(key=first)).json()["error"] == "issue_not_found"
    with cloud.http("eu") as plain:
        assert plain.get(target["download_url"]).content == GOOD["chart.png"]

    deleted = site.request("DELETE", url.format(key=first))
    assert deleted.status_code == 204, deleted.text
    left = listing(site, first).json()["attachments"]
    assert [f["name"] for f in left] == ["report.pdf"]
    assert [f["id"] for f in listing(site, second).json()["attachments"]] == [theirs["id"]]
    with cloud.http("eu") as plain:
        assert plain.get(target["download_url"]).status_code == 404
        assert plain.get(theirs["download_url"]).content == GOOD["chart.png"]
    # In the trash it is kept whole, unserved; purged from there, its bytes go.
    assert stored_file(cloud, site, target["id"]).exists()
    purge_from_trash(site, target["id"])
    assert media_forgot(cloud, site.cloud_id, target["id"])
    assert stored_file(cloud, site, target["id"]).exists()  # retired: kept for the backups
    again = site.request("DELETE", url.format(key=first))
    assert again.status_code == 404 and again.json()["error"] == "attachment_not_found"
    bad = site.request("DELETE", f"/rest/issues/issues/{first}/attachments/not-an-id")
    assert bad.status_code == 404 and bad.json()["error"] == "attachment_not_found"
