"""A restore to before an erasure does not bring the person back: the erasure ledger is
replayed before the site is served (SQLite and Litestream here; on PostgreSQL the pgBackRest
cloud test restores past an erasure on its own cluster)."""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from backup.moments import second_passed
from e2e.api import PASSWORD, Site
from e2e.cloud import Cloud, tenantry
from e2e.stored import media_rows, shard_of, stored_rows
from e2e.test_encryption import _all_bytes
from e2e.test_privacy import (
    Person,
    _blob_files,
    _finished_export,
    _live_rows,
    _scan,
    _sealed_values,
    _site_with_people,
)
from tenantry.platform.personal_data import FORMER_USER


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory, storage_backend: str) -> Iterator[Cloud]:
    """A cloud whose backup agents run, so a tenant can be restored (the shared one has none)."""
    running = Cloud.start(tmp_path_factory.mktemp("ledger-cloud") / "data", backups=True)
    try:
        yield running
    finally:
        running.stop()


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
