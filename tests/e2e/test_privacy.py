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
from backup.moments import second_passed
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


def _ledger_rows(cloud: Cloud, site: Site, sql: str, **params: str) -> None:
    """Run `sql` on both copies of the site's erasure ledger (SQLite), `:t` its cloud id."""
    shard = shard_of(cloud, site.cloud_id)
    for path in (
        cloud.data_dir / "shards" / shard / "privacy.sqlite",
        cloud.data_dir / "global" / "privacy.sqlite",
    ):
        connection = sqlite3.connect(path, timeout=10)
        try:
            with connection:
                connection.execute(sql, {"t": site.cloud_id, **params})
        finally:
            connection.close()


def _restore(cloud: Cloud, site: Site, at: str) -> Any:
    return tenantry(
        "tenant",
        "restore",
        site.name,
        "--at",
        at,
        "--yes",
        "--data-dir",
        str(cloud.data_dir),
        timeout=300,
    )


@pytest.mark.skipif(
    BACKEND == "postgres",
    reason="a tenant restore on PostgreSQL needs pgBackRest's own cluster "
    "(tests/backup/pgbackrest); the ledger's replay is the same code on both",
)
def test_a_restore_to_before_an_erasure_does_not_bring_the_person_back(cloud: Cloud) -> None:
    site, person, neighbour, shared = _site_with_people(cloud, "ledger")
    kept = Person(site, "Katherine Coleman Johnson")
    kept_comment = kept.request(
        "POST", f"/rest/issues/issues/{shared}/comments", json={"body": f"comment {kept.marker}"}
    )
    assert kept_comment.status_code == 201, kept_comment.text
    exported = site.request("POST", "/rest/privacy/exports", json={"account_id": person.account_id})
    assert _finished_export(site, exported.json()["id"])["status"] == "done"
    sealed = _sealed_values(cloud, site, person) + _sealed_values(cloud, site, kept)[:2]
    admin_id = site.request("GET", "/rest/identity/me").json()["account_id"]
    at = second_passed(settle=0.5).isoformat()

    # One erasure through the API (their content too), one by the operator (content kept).
    erased = site.request(
        "POST", "/rest/privacy/erasures", json={"account_id": person.account_id, "content": "erase"}
    )
    assert erased.status_code == 201, erased.text
    by_operator = tenantry(
        "privacy", "erase", site.name, kept.account_id, "--data-dir", str(cloud.data_dir)
    )
    assert by_operator.returncode == 0, by_operator.stderr
    files_erased = media_rows(cloud, site.cloud_id, "media_files", "id")
    blobs_erased = _blob_files(cloud, site)
    neighbour_seen = _neighbour_view(site, neighbour, shared)
    time.sleep(1.5)  # the erasures reach the backups too: the restore goes to before them

    # A ledger entry no store can replay (erasing the site's last admin): the restore fails,
    # saying why, and the site is not served.
    _ledger_rows(
        cloud,
        site,
        "INSERT INTO erasure_ledger VALUES (:t, :id, :admin, 'keep', 0.0)",
        id=f"bogus{uuid.uuid4().hex[:27]}",
        admin=admin_id,
    )
    refused = _restore(cloud, site, at)
    assert refused.returncode == 1, refused.stdout
    assert "erasure ledger" in refused.stderr and "last_admin" in refused.stderr
    assert "stays restoring" in refused.stderr
    waiting = site.request("GET", "/rest/issues/projects")
    assert (waiting.status_code, waiting.json()["error"]) == (503, "tenant_restoring")
    _ledger_rows(
        cloud, site, "DELETE FROM erasure_ledger WHERE tenant_id = :t AND erasure_id LIKE 'bogus%'"
    )

    # Run again, the restore finishes: the site as it was a second before the erasures, with
    # both erasures replayed (each with its own content choice) before it is served.
    restored = _restore(cloud, site, at)
    assert restored.returncode == 0, restored.stderr + restored.stdout
    assert "erasure ledger: 2 erasures replayed" in restored.stdout
    assert f"{site.name}: restored to" in restored.stdout

    # Through the API: neither can log in or be found; the erased person's comment, issue,
    # attachment and page are gone, the kept one's comment stays as the former user's.
    for gone in (person, kept):
        relogin = site.http.post(
            "/login", json={"site": site.name, "email": gone.email, "password": PASSWORD}
        )
        assert relogin.status_code == 401, relogin.text
    accounts = site.request("GET", "/rest/identity/accounts")
    assert accounts.status_code == 200, accounts.text
    listed = json.dumps(accounts.json())
    for gone in (person, kept):
        assert gone.email not in listed and gone.name not in listed
        assert gone.account_id not in listed
    comments = site.request("GET", f"/rest/issues/issues/{shared}/comments").json()["comments"]
    assert {c["body"]: c["author"] for c in comments} == {
        f"comment {neighbour.marker}": neighbour.account_id,
        f"comment {kept.marker}": FORMER_USER,
    }
    issues = site.request("GET", "/rest/issues/issues", params={"limit": "100"}).json()["issues"]
    assert all(person.marker not in json.dumps(issue) for issue in issues)
    assert all(person.account_id not in json.dumps(issue) for issue in issues)
    page = site.request("GET", f"/rest/pages/pages/{person.page_id}").json()
    assert person.marker not in json.dumps(page), page
    history = site.request("GET", f"/rest/pages/pages/{person.page_id}/versions").json()
    assert person.account_id not in json.dumps(history), history
    assert media_rows(cloud, site.cloud_id, "media_files", "id") == files_erased
    assert _blob_files(cloud, site) <= blobs_erased  # no erased file came back from the backups
    # The neighbour is as they were.
    assert _neighbour_view(site, neighbour, shared) == neighbour_seen

    # Nothing readable of them in any database file of the cloud, blob or backup repository,
    # and no live row holds their sealed values again.
    stored = _scan(cloud) + _all_bytes(cloud.data_dir / "backups")
    for secret in (person.email, person.name, person.marker, kept.email, kept.name):
        assert secret.encode() not in stored, secret
    rows = _live_rows(cloud)
    for value in sealed:
        assert value not in rows

    # The replay is in the site's audit log, naming both erasures; both ledger copies hold them.
    def replayed() -> list[dict[str, Any]]:
        listed = site.request("GET", "/rest/audit/events", params={"limit": "500"}).json()
        return [e for e in listed["events"] if e["action"] == "personal_data_erasures_replayed"]

    # The replay is the operator's: through the edge, even a site admin cannot run it.
    outside = site.request("POST", "/internal/privacy/erasures/replay")
    assert outside.status_code in (403, 404), outside.text
    deadline = time.monotonic() + 30
    while not replayed():
        assert time.monotonic() < deadline, "the replay never reached the audit log"
        time.sleep(0.2)
    (event,) = replayed()
    assert event["detail"]["erasures"] == 2
    assert erased.json()["id"] in event["detail"]["requests"]
    # The operator may replay by hand (what `up` does after a region restore); it changes
    # nothing more, and is recorded too. An unknown site is a clear error.
    data = str(cloud.data_dir)
    by_hand = tenantry("privacy", "replay", site.name, "--data-dir", data, timeout=120)
    assert by_hand.returncode == 0, by_hand.stderr
    assert f"{site.name}: 2 erasures replayed" in by_hand.stdout
    assert _neighbour_view(site, neighbour, shared) == neighbour_seen
    unknown = tenantry("privacy", "replay", "no-such-site", "--data-dir", data)
    assert unknown.returncode == 1 and "unknown_site" in unknown.stderr
    deadline = time.monotonic() + 30
    while len(replayed()) < 2:
        assert time.monotonic() < deadline, "the second replay never reached the audit log"
        time.sleep(0.2)
    shard = shard_of(cloud, site.cloud_id)
    for path in (
        cloud.data_dir / "shards" / shard / "privacy.sqlite",
        cloud.data_dir / "global" / "privacy.sqlite",
    ):
        entries = stored_rows(
            cloud,
            shard,
            path,
            "SELECT account_id, content FROM erasure_ledger WHERE tenant_id = :t",
            t=site.cloud_id,
        )
        assert sorted(map(tuple, entries)) == sorted(
            [(person.account_id, "erase"), (kept.account_id, "keep")]
        )


def _neighbour_view(site: Site, neighbour: Person, shared: str) -> dict[str, Any]:
    """What the API shows of the neighbour: account, their comment, issue, page, attachment."""
    me = neighbour.request("GET", "/rest/identity/me")
    assert me.status_code == 200, me.text
    comments = site.request("GET", f"/rest/issues/issues/{shared}/comments").json()["comments"]
    attached = site.request("GET", f"/rest/issues/issues/{shared}/attachments").json()
    issues = site.request("GET", "/rest/issues/issues", params={"limit": "100"}).json()["issues"]
    page = site.request("GET", f"/rest/pages/pages/{neighbour.page_id}").json()
    return {
        "me": {k: v for k, v in me.json().items() if k in ("account_id", "email", "display_name")},
        "comments": [c for c in comments if c["author"] == neighbour.account_id],
        "attachments": [
            {k: a[k] for k in ("id", "name", "media_type", "size")}
            for a in attached["attachments"]
            if a["name"] == neighbour.file_name
        ],
        "issues": [i for i in issues if neighbour.marker in i["summary"]],
        "page": {k: page[k] for k in ("title", "body") if k in page},
    }
