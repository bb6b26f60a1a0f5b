"""A person's export and erasure through the edge and the CLI: every record naming them in one
zip and nothing of anyone else; then gone from every store, their neighbour untouched, with a
receipt signed by the region's audit key; and every refusal (403, 404, 409)."""

from __future__ import annotations

import io
import json
import sqlite3
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from backends import BACKEND
from tenantry.platform.audit.checkpoint_key import published_verifier_key
from tenantry.platform.audit.note import open_note
from tenantry.platform.personal_data import FORMER_USER

from .api import PASSWORD, Site, add_account, signup, token_for
from .cloud import Cloud, tenantry
from .stored import media_rows, shard_of, stored_rows
from .test_encryption import _all_bytes, _postgres_tables

pytestmark = pytest.mark.e2e

NAME = "Grace Brewster Hopper"


class Person:
    """An account of a site that writes, comments and uploads, acting with its own token."""

    def __init__(self, site: Site, name: str, role: str = "member") -> None:
        self.email = f"{name.split()[0].lower()}-{uuid.uuid4().hex[:6]}@{site.name}.test"
        made = site.request(
            "POST",
            "/rest/identity/accounts",
            json={"email": self.email, "password": PASSWORD, "role": role, "display_name": name},
        )
        assert made.status_code == 201, made.text
        self.account_id = str(made.json()["account_id"])
        self.name = name
        self.marker = f"marker-{uuid.uuid4().hex}"
        self.file_name = f"notes-{uuid.uuid4().hex[:8]}.txt"
        self.site = site
        self.token = token_for(site, self.email)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send a request as this person."""
        return self.site.request(
            method, path, headers={"Authorization": f"Bearer {self.token}"}, **kwargs
        )

    def works(self, on_issue: str) -> dict[str, str]:
        """Report an issue, comment on `on_issue` and attach a file to it; what was made."""
        made = self.request(
            "POST",
            "/rest/issues/issues",
            json={
                "project": "OPS",
                "summary": f"summary {self.marker}",
                "description": f"description {self.marker}",
            },
        )
        assert made.status_code == 201, made.text
        comment = self.request(
            "POST",
            f"/rest/issues/issues/{on_issue}/comments",
            json={"body": f"comment {self.marker}"},
        )
        assert comment.status_code == 201, comment.text
        attached = self.request(
            "POST",
            f"/rest/issues/issues/{on_issue}/attachments",
            # Media keeps file names in the clear, so the marker goes in the sealed bytes only.
            files={"file": (self.file_name, f"file {self.marker}".encode(), "text/plain")},
        )
        assert attached.status_code == 201, attached.text
        document = {
            "type": "doc",
            "content": [{"type": "paragraph", "content": [{"type": "text", "text": self.marker}]}],
        }
        page = self.request(
            "POST",
            "/rest/pages/pages",
            json={"space": "DOCS", "title": f"page {self.marker}", "body": document},
        )
        assert page.status_code == 201, page.text
        self.page_id = str(page.json()["id"])
        return {
            "issue": str(made.json()["key"]),
            "comment": str(comment.json()["id"]),
            "attachment": str(attached.json()["id"]),
        }


def _site_with_people(cloud: Cloud, prefix: str) -> tuple[Site, Person, Person, str]:
    """A site whose admin reported an issue that two members, a person and their neighbour,
    each comment on and attach to (and each reports one of their own)."""
    site = signup(cloud, region="eu", prefix=prefix)
    site.create_project()
    shared = str(site.create_issue("the admin's issue")["key"])
    space = site.request("POST", "/rest/pages/spaces", json={"key": "DOCS", "name": "Docs"})
    assert space.status_code == 201, space.text
    person = Person(site, NAME)
    neighbour = Person(site, "Alan Mathison Turing")
    person.works(shared)
    neighbour.works(shared)
    return site, person, neighbour, shared


def _finished_export(asker: Site | Person, export_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        shown = asker.request("GET", f"/rest/privacy/exports/{export_id}")
        assert shown.status_code == 200, shown.text
        state: dict[str, Any] = shown.json()
        if state["status"] != "running":
            return state
        assert time.monotonic() < deadline, state
        time.sleep(0.2)


def _zip_texts(data: bytes) -> dict[str, str]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name).decode(errors="replace") for name in archive.namelist()}


def test_an_export_holds_every_record_of_the_person_and_nothing_of_anyone_else(
    cloud: Cloud,
) -> None:
    site, person, neighbour, _shared = _site_with_people(cloud, "export")
    started = site.request("POST", "/rest/privacy/exports", json={"account_id": person.account_id})
    assert started.status_code == 202, started.text
    assert set(started.json()) >= {"id", "account_id", "status", "stores"}
    state = _finished_export(site, started.json()["id"])
    assert state["status"] == "done", json.dumps(state)
    stores = [entry["store"] for entry in state["stores"]]
    assert stores == ["identity", "issues", "pages", "analytics", "media"]
    link = state["download"]
    assert link.startswith("/rest/media/files/") and "token=" in link
    downloaded = site.http.get(link)  # a media token link: no user token needed
    assert downloaded.status_code == 200, downloaded.text
    texts = _zip_texts(downloaded.content)

    assert {"identity.json", "issues.json", "pages.json", "media.json", "privacy.json"} <= set(
        texts
    )
    identity = json.loads(texts["identity.json"])
    assert identity["accounts"][0]["email"] == person.email
    assert identity["accounts"][0]["display_name"] == NAME
    issues = json.loads(texts["issues.json"])
    assert [issue["summary"] for issue in issues["issues"]] == [f"summary {person.marker}"]
    assert [issue["description"] for issue in issues["issues"]] == [f"description {person.marker}"]
    assert [comment["body"] for comment in issues["comments"]] == [f"comment {person.marker}"]
    pages = json.loads(texts["pages.json"])
    assert [page["title"] for page in pages["pages"]] == [f"page {person.marker}"]
    assert [version["author"] for version in pages["page_versions"]] == [person.account_id]
    assert person.marker in json.dumps(pages["page_versions"][0]["body"])
    media = json.loads(texts["media.json"])
    assert [row["name"] for row in media["media_files"]] == [person.file_name]
    uploaded = [name for name in texts if name.startswith("files/")]
    assert len(uploaded) == 1 and texts[uploaded[0]] == f"file {person.marker}"
    everything = "\n".join(texts.values())
    for other in (neighbour.email, neighbour.name, neighbour.marker, neighbour.account_id):
        assert other not in everything, other
    assert f"admin@{site.name}.test" not in everything
    assert "the admin's issue" not in everything

    mine = person.request("POST", "/rest/privacy/exports", json={"account_id": person.account_id})
    assert mine.status_code == 202, mine.text
    assert _finished_export(person, mine.json()["id"])["status"] == "done"
    seen = neighbour.request("GET", f"/rest/privacy/exports/{mine.json()['id']}")
    assert seen.status_code == 404, seen.text


def test_exporting_someone_else_as_a_member_or_another_sites_account_is_refused(
    cloud: Cloud,
) -> None:
    site = signup(cloud, region="eu", prefix="export-refused")
    other = signup(cloud, region="eu", prefix="export-other")
    member_id, member_email = add_account(site)
    other_id, _ = add_account(other)
    member = Site(site.name, site.cloud_id, site.region, token_for(site, member_email), site.http)
    admin_id = site.request("GET", "/rest/identity/me").json()["account_id"]

    refused = member.request("POST", "/rest/privacy/exports", json={"account_id": admin_id})
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"] == "not_allowed"
    elsewhere = site.request("POST", "/rest/privacy/exports", json={"account_id": other_id})
    assert elsewhere.status_code == 404, elsewhere.text
    assert elsewhere.json()["error"] == "account_not_found"
    erasing = member.request("POST", "/rest/privacy/erasures", json={"account_id": admin_id})
    assert erasing.status_code == 403, erasing.text
    assert erasing.json()["error"] == "admin_required"
    assert member_id != admin_id
    bad = site.request("POST", "/rest/privacy/erasures", json={"account_id": "x", "content": "?"})
    assert bad.status_code in (400, 422), bad.text


def _live_rows(cloud: Cloud) -> bytes:
    """Every row of every table the services read, as bytes (what a query can still see)."""
    if BACKEND == "postgres":
        return _postgres_tables(cloud)
    dumped = bytearray()
    roots = [cloud.data_dir / "global", cloud.data_dir / "shards"]
    for database in (p for root in roots for p in sorted(root.rglob("*.sqlite"))):
        connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
        try:
            names = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            for (table,) in names.fetchall():
                for row in connection.execute(f'SELECT * FROM "{table}"'):  # noqa: S608
                    for value in row:
                        dumped += value if isinstance(value, bytes) else str(value).encode()
        finally:
            connection.close()
    return bytes(dumped)


def _scan(cloud: Cloud) -> bytes:
    stored = _all_bytes(cloud.data_dir / "global") + _all_bytes(cloud.data_dir / "shards")
    stored += _all_bytes(cloud.data_dir / "media")
    if BACKEND == "postgres":
        stored += _postgres_tables(cloud)
    return stored


def _sealed_values(cloud: Cloud, site: Site, person: Person) -> list[bytes]:
    """The stored (sealed) bytes of the person's email, name and comment."""
    schema = "" if BACKEND == "sqlite" else "identity."
    ((email, name),) = stored_rows(
        cloud,
        "global",
        cloud.data_dir / "global" / "identity.sqlite",
        f"SELECT email, display_name FROM {schema}accounts WHERE account_id = :id",  # noqa: S608
        id=person.account_id,
    )
    shard = shard_of(cloud, site.cloud_id)
    schema = "" if BACKEND == "sqlite" else "issues."
    bodies = stored_rows(
        cloud,
        shard,
        cloud.data_dir / "shards" / shard / "issues.sqlite",
        f"SELECT body FROM {schema}comments WHERE author = :id",  # noqa: S608
        id=person.account_id,
    )
    return [bytes(email), bytes(name), *(bytes(body) for (body,) in bodies)]


def test_an_erasure_reaches_every_store_and_leaves_the_neighbour_alone(cloud: Cloud) -> None:
    site, person, neighbour, shared = _site_with_people(cloud, "erase")
    exported = site.request("POST", "/rest/privacy/exports", json={"account_id": person.account_id})
    assert _finished_export(site, exported.json()["id"])["status"] == "done"
    sealed = _sealed_values(cloud, site, person)
    files_before = media_rows(cloud, site.cloud_id, "media_files", "id")

    erased = site.request(
        "POST",
        "/rest/privacy/erasures",
        json={"account_id": person.account_id, "content": "erase"},
    )
    assert erased.status_code == 201, erased.text
    receipt = erased.json()
    stores = [entry["store"] for entry in receipt["stores"]]
    assert stores == [
        "identity",
        "issues",
        "pages",
        "analytics",
        "media",
        "privacy",
        "audit",
        "kms",
        "backup",
        "tcs",
    ]
    _text, key_name, public_key = published_verifier_key(cloud.data_dir, "eu")
    signed = open_note(receipt["receipt"], key_name, public_key)
    assert person.account_id in signed and site.cloud_id in signed
    assert receipt["event_id"] in signed

    # Email, name, credentials and tokens go at once.
    assert person.request("GET", "/rest/identity/me").status_code == 401
    relogin = site.http.post(
        "/login", json={"site": site.name, "email": person.email, "password": PASSWORD}
    )
    assert relogin.status_code == 401, relogin.text
    # Their comment and attachment are gone; the neighbour's stay, as written.
    comments = site.request("GET", f"/rest/issues/issues/{shared}/comments").json()["comments"]
    assert [c["body"] for c in comments] == [f"comment {neighbour.marker}"]
    assert [c["author"] for c in comments] == [neighbour.account_id]
    attached = site.request("GET", f"/rest/issues/issues/{shared}/attachments").json()
    assert [a["name"] for a in attached["attachments"]] == [neighbour.file_name]
    issues = site.request("GET", "/rest/issues/issues", params={"limit": "100"}).json()["issues"]
    reporters = sorted(issue["reporter"] for issue in issues)
    assert FORMER_USER in reporters and person.account_id not in reporters
    assert all(person.marker not in issue["summary"] for issue in issues)
    # Their page is emptied and no longer theirs; the neighbour's page is as written.
    theirs = site.request("GET", f"/rest/pages/pages/{person.page_id}").json()
    assert person.marker not in json.dumps(theirs), theirs
    history = site.request("GET", f"/rest/pages/pages/{person.page_id}/versions").json()
    assert person.account_id not in json.dumps(history), history
    kept = site.request("GET", f"/rest/pages/pages/{neighbour.page_id}").json()
    assert kept["title"] == f"page {neighbour.marker}"
    assert neighbour.request("GET", "/rest/identity/me").status_code == 200
    files_after = media_rows(cloud, site.cloud_id, "media_files", "id")
    assert len(files_before - files_after) == 2  # their attachment and their export's zip

    # Nothing readable of them in any database file, table or blob; their sealed values gone.
    stored = _scan(cloud)
    for secret in (person.email, person.name, person.marker):
        assert secret.encode() not in stored, secret
    # No live row holds their sealed values (old WAL frames, free pages and backups still
    # hold sealed copies until they roll over: what a per-account key would shred).
    rows = _live_rows(cloud)
    for value in sealed:
        assert value not in rows
    assert neighbour.marker.encode() not in stored  # sealed, as ever

    events = site.request("GET", "/rest/audit/events", params={"limit": "500"})
    assert events.status_code == 200, events.text

    def logged() -> bool:
        listed = site.request("GET", "/rest/audit/events", params={"limit": "500"}).json()
        return any(receipt["event_id"] in json.dumps(event) for event in listed["events"])

    deadline = time.monotonic() + 30
    while not logged():
        assert time.monotonic() < deadline, "the erasure never reached the audit log"
        time.sleep(0.2)

    again = site.request("POST", "/rest/privacy/erasures", json={"account_id": person.account_id})
    assert again.status_code == 404, again.text


def test_the_operator_exports_and_erases_and_the_last_admin_stays(
    cloud: Cloud, tmp_path: Path
) -> None:
    site, person, neighbour, shared = _site_with_people(cloud, "operator")
    data = str(cloud.data_dir)
    out = tmp_path / "export.zip"
    exported = tenantry(
        "privacy", "export", site.name, person.account_id, "--out", str(out), "--data-dir", data
    )
    assert exported.returncode == 0, exported.stderr
    texts = _zip_texts(out.read_bytes())
    assert person.email in texts["identity.json"]
    assert neighbour.email not in "\n".join(texts.values())

    admin_id = site.request("GET", "/rest/identity/me").json()["account_id"]
    last = tenantry("privacy", "erase", site.name, admin_id, "--data-dir", data)
    assert last.returncode == 1, last.stdout
    assert "last_admin" in last.stderr
    assert site.request("GET", "/rest/identity/me").status_code == 200
    http_last = site.request("POST", "/rest/privacy/erasures", json={"account_id": admin_id})
    assert http_last.status_code == 409, http_last.text
    assert http_last.json()["error"] == "last_admin"

    erased = tenantry("privacy", "erase", site.name, person.account_id, "--data-dir", data)
    assert erased.returncode == 0, erased.stderr
    receipt = json.loads(erased.stdout)
    assert receipt["content"] == "keep"
    comments = site.request("GET", f"/rest/issues/issues/{shared}/comments").json()["comments"]
    by_body = {c["body"]: c["author"] for c in comments}
    assert by_body == {
        f"comment {person.marker}": FORMER_USER,
        f"comment {neighbour.marker}": neighbour.account_id,
    }
    attached = site.request("GET", f"/rest/issues/issues/{shared}/attachments").json()
    assert len(attached["attachments"]) == 2  # kept, no longer naming who uploaded it

    unknown = tenantry("privacy", "erase", site.name, person.account_id, "--data-dir", data)
    assert unknown.returncode == 1
    assert "account_not_found" in unknown.stderr


def _blob_files(cloud: Cloud, site: Site) -> set[str]:
    """The site's blob files in media's store, as paths under it."""
    root = cloud.data_dir / "media" / site.region / site.cloud_id
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
