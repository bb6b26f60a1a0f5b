"""Litestream backups on SQLite, end to end: a region lost whole comes back from its backups.

These tests are SQLite-specific (they drive Litestream's files and the live SQLite files), which
is why they live in tests/backup, a directory the PostgreSQL run does not take (see
tests/backends.py). One cloud serves the module; the last test kills it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from backup.moments import second_passed
from e2e.api import PASSWORD, Site, add_account, log_in, signup
from e2e.cloud import Cloud, tenantry
from e2e.stored import shard_of, stored_rows

REGION = "eu"
RPO_SECONDS = 1.0
"""The recovery point promised on SQLite: a write answered this long before a loss survives."""


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory, storage_backend: str) -> Iterator[Cloud]:
    running = Cloud.start(tmp_path_factory.mktemp("backup-cloud") / "data", backups=True)
    try:
        yield running
    finally:
        if running.running:
            running.stop(check=False)


def _status(cloud: Cloud) -> list[dict[str, object]]:
    done = tenantry(
        "backup", "status", "--json", "--region", REGION, "--data-dir", str(cloud.data_dir)
    )
    assert done.returncode == 0, done.stderr
    rows: list[dict[str, object]] = json.loads(done.stdout)
    return rows


def _wait(what: str, probe: object, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not probe():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.2)


def test_restore_refuses_a_running_cloud_and_bad_input(cloud: Cloud) -> None:
    root = str(cloud.data_dir)
    running = tenantry("backup", "restore", "--region", REGION, "--yes", "--data-dir", root)
    assert running.returncode == 1
    assert "a cloud is running" in running.stderr
    bad_time = tenantry(
        "backup", "restore", "--region", REGION, "--at", "yesterday", "--yes", "--data-dir", root
    )
    assert bad_time.returncode == 2
    assert "not an ISO 8601 time" in bad_time.stderr
    bad_region = tenantry("backup", "status", "--region", "mars", "--data-dir", root)
    assert bad_region.returncode == 2
    assert "there is no region 'mars'" in bad_region.stderr
    unconfirmed = tenantry("backup", "restore", "--region", REGION, "--data-dir", root)
    assert unconfirmed.returncode == 2
    assert "--yes" in unconfirmed.stderr


def test_status_names_every_database_with_both_repositories(cloud: Cloud) -> None:
    _wait(
        "every database backed up",
        lambda: all(r["behind_seconds"] is not None for r in _status(cloud)),
    )
    rows = _status(cloud)
    shards = {shard.name for shard in cloud.topology().regions[REGION].shards}
    assert {(r["shard"], r["service"]) for r in rows} >= {
        (shard, service) for shard in shards for service in ("issues", "kms", "media")
    }
    for row in rows:
        assert row["tool"] == "litestream"
        assert row["oldest_restorable"] is not None
        assert [r["name"] for r in row["repositories"]] == ["eu-a", "eu-b"]  # type: ignore[index]
        assert row["problems"] == []
    global_rows = json.loads(
        tenantry(
            "backup", "status", "--json", "--region", "global", "--data-dir", str(cloud.data_dir)
        ).stdout
    )
    assert {r["service"] for r in global_rows} >= {"identity", "tcs", "kms"}


def test_one_repository_unreachable_the_other_keeps_receiving(cloud: Cloud) -> None:
    site = signup(cloud, region=REGION, prefix="repo")
    site.create_project()
    repository = cloud.data_dir / "backups" / REGION / "eu-b"
    aside = repository.with_name("eu-b.aside")
    repository.rename(aside)
    repository.write_text("not a directory: this zone's storage is gone")
    try:
        made = site.create_issue("written while eu-b is away")
        before = time.time()

        def eu_b_behind() -> bool:
            rows = [r for r in _status(cloud) if r["service"] == "issues"]
            return all(r["repository_behind"] == "eu-b" for r in rows) and any(
                not repo["reachable"]
                for r in rows
                for repo in r["repositories"]  # type: ignore[attr-defined]
            )

        _wait("eu-b reported behind", eu_b_behind)
        newest_a = max(
            p.stat().st_mtime for p in (cloud.data_dir / "backups" / REGION / "eu-a").rglob("*.ltx")
        )
        assert newest_a >= before  # eu-a kept receiving
        assert made["key"] == "OPS-1"
    finally:
        repository.unlink()
        aside.rename(repository)
    _wait(
        "eu-b caught up",
        lambda: all(
            r["repository_behind"] is None and not r["problems"]
            for r in _status(cloud)
            if r["service"] == "issues"
        ),
    )


def _same_shard_pair(cloud: Cloud) -> tuple[Site, Site]:
    """Two new sites of REGION on one shard: a tenant and its neighbour."""
    by_shard: dict[str, Site] = {}
    while True:
        site = signup(cloud, region=REGION, prefix="pitr")
        shard = shard_of(cloud, site.cloud_id)
        if shard in by_shard:
            return by_shard[shard], site
        by_shard[shard] = site


def _issues_of(site: Site) -> list[tuple[str, str, str, str, list[str]]]:
    """Every issue of the site with its comments: what a snapshot of its data compares."""
    found = []
    for key in sorted(_all_keys(site)):
        issue = site.request("GET", f"/rest/issues/issues/{key}").json()
        comments = site.request("GET", f"/rest/issues/issues/{key}/comments").json()["comments"]
        found.append(
            (
                key,
                issue["summary"],
                issue["description"],
                issue["status"],
                [c["body"] for c in comments],
            )
        )
    return found


def _all_keys(site: Site) -> list[str]:
    keys: list[str] = []
    cursor = None
    while True:
        query = {"project": "OPS", **({"cursor": cursor} if cursor else {})}
        page = site.request("GET", "/rest/issues/issues", params=query).json()
        keys += [issue["key"] for issue in page["issues"]]
        cursor = page.get("next_cursor")
        if not cursor:
            return keys


def _raw_rows(cloud: Cloud, shard: str, cloud_id: str) -> dict[object, tuple[object, ...]]:
    """The tenant's issue rows as stored, by key: to compare byte for byte."""
    rows = stored_rows(
        cloud,
        shard,
        cloud.data_dir / "shards" / shard / "issues.sqlite",
        "SELECT * FROM issues WHERE tenant_id = :t",
        t=cloud_id,
    )
    return {tuple(row)[:2]: tuple(row) for row in rows}


def test_one_tenant_goes_back_to_a_second_and_its_neighbour_is_untouched(cloud: Cloud) -> None:
    tenant, neighbour = _same_shard_pair(cloud)
    shard = shard_of(cloud, tenant.cloud_id)
    for site in (tenant, neighbour):
        site.create_project()
    for number in range(6):
        made = tenant.create_issue(f"kept {number}", f"details {number}")
        comment = tenant.request(
            "POST", f"/rest/issues/issues/{made['key']}/comments", json={"body": f"note {number}"}
        )
        assert comment.status_code == 201, comment.text
    moved = tenant.request("PATCH", "/rest/issues/issues/OPS-2", json={"status": "In Progress"})
    assert moved.status_code == 200, moved.text
    snapshot = _issues_of(tenant)
    at = second_passed()

    neighbour_writes: list[tuple[float, str]] = []
    stop = threading.Event()
    writer = threading.Thread(
        target=_writer, args=(neighbour.via(cloud.http(REGION)), neighbour_writes, stop)
    )
    writer.start()
    try:
        for key in ("OPS-1", "OPS-3"):
            assert tenant.request("DELETE", f"/rest/issues/issues/{key}").status_code == 204
        for key in ("OPS-4", "OPS-5"):
            edited = tenant.request(
                "PATCH", f"/rest/issues/issues/{key}", json={"summary": "edited"}
            )
            assert edited.status_code == 200, edited.text
        tenant.create_issue("made after the second")
        assert _issues_of(tenant) != snapshot
        time.sleep(1.5)  # the edits reach the backups: a restore must undo them, not miss them
        neighbour_before = _raw_rows(cloud, shard, neighbour.cloud_id)

        answers: list[httpx.Response] = []
        polling = threading.Event()

        def poll() -> None:
            clients = [cloud.http(region) for region in cloud.edges]
            while not polling.is_set():
                for client in clients:
                    answers.append(tenant.via(client).request("GET", "/rest/issues/projects"))
                time.sleep(0.05)

        poller = threading.Thread(target=poll)
        poller.start()
        try:
            restored = tenantry(
                "tenant",
                "restore",
                tenant.name,
                "--at",
                at.isoformat(),
                "--yes",
                "--data-dir",
                str(cloud.data_dir),
                timeout=300,
            )
        finally:
            polling.set()
            poller.join()
        assert restored.returncode == 0, restored.stderr + restored.stdout
        assert "counts and checksums match" in restored.stdout
    finally:
        stop.set()
        writer.join()

    refused = [a for a in answers if a.status_code == 503]
    assert refused, "the tenant was never refused while it was restored"
    assert all(a.json()["error"] == "tenant_restoring" for a in refused)
    assert all(a.headers.get("retry-after") for a in refused)
    assert {a.url.port for a in refused} == {int(u.rsplit(":", 1)[1]) for u in cloud.edges.values()}
    _served_again(cloud, tenant)
    assert _issues_of(tenant) == snapshot

    neighbour_after = _raw_rows(cloud, shard, neighbour.cloud_id)
    assert all(neighbour_after[key] == row for key, row in neighbour_before.items())
    written = {summary for _, summary in neighbour_writes}
    assert set(_all_summaries(neighbour)) == written
    assert len(neighbour_after) == len(written)


def _served_again(cloud: Cloud, site: Site) -> None:
    """Wait until every edge has taken in the site's status after a restore (within a second)."""
    for region in cloud.edges:
        with cloud.http(region) as client:
            _wait(
                f"{site.name} served at {region}",
                lambda client=client: (
                    site.via(client).request("GET", "/rest/issues/projects").status_code == 200
                ),
            )


def test_a_restore_to_before_a_data_key_and_a_root_key_rotation_opens_everything(
    cloud: Cloud,
) -> None:
    root = str(cloud.data_dir)
    site = signup(cloud, region=REGION, prefix="rekey")
    site.create_project()
    made = site.create_issue("sealed under the first key", "its description")
    site.request("POST", f"/rest/issues/issues/{made['key']}/comments", json={"body": "a note"})
    before = _issues_of(site)
    at = second_passed()
    rotated = tenantry("keys", "rotate-data-key", site.name, "--data-dir", root, timeout=120)
    assert rotated.returncode == 0, rotated.stderr
    root_rotated = tenantry("keys", "rotate", "--region", REGION, "--data-dir", root, timeout=120)
    assert root_rotated.returncode == 0, root_rotated.stderr
    changed = site.request("PATCH", f"/rest/issues/issues/{made['key']}", json={"summary": "new"})
    assert changed.status_code == 200, changed.text
    time.sleep(1.5)

    restored = tenantry(
        "tenant",
        "restore",
        site.name,
        "--at",
        at.isoformat(),
        "--yes",
        "--data-dir",
        root,
        timeout=300,
    )
    assert restored.returncode == 0, restored.stderr + restored.stdout
    _served_again(cloud, site)
    assert _issues_of(site) == before  # every field and comment opens

    shard = shard_of(cloud, site.cloud_id)
    keys = stored_rows(
        cloud,
        shard,
        cloud.data_dir / "shards" / shard / "kms.sqlite",
        "SELECT version, state FROM data_keys WHERE tenant_id = :t ORDER BY version",
        t=site.cloud_id,
    )
    *older, (newest, state) = keys
    assert state == "active"
    assert newest == 3  # made by the restore's reseal, after the rotation's version 2
    assert all(state == "retired" for _, state in older)  # no retirement was undone


def test_a_tenant_restore_cut_short_is_run_again_and_finishes(cloud: Cloud) -> None:
    root = str(cloud.data_dir)
    site = signup(cloud, region=REGION, prefix="cut")
    site.create_project()
    site.create_issue("before the second")
    before = _issues_of(site)
    at = second_passed()
    site.create_issue("after the second")
    changed = site.request(
        "POST",
        "/rest/identity/me/password",
        json={"current_password": PASSWORD, "new_password": "another long passphrase"},
    )
    assert changed.status_code == 200, changed.text
    revoked = site
    site = Site(site.name, site.cloud_id, site.region, changed.json()["token"], site.http)
    _wait(
        "the old token revoked",
        lambda: revoked.request("GET", "/rest/identity/me").status_code == 401,
    )
    time.sleep(1.5)
    command = [
        sys.executable,
        "-m",
        "tenantry",
        "tenant",
        "restore",
        site.name,
        "--at",
        at.isoformat(),
        "--yes",
        "--data-dir",
        root,
    ]
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait(
            "the site to be restoring",
            lambda: site.request("GET", "/rest/issues/projects").status_code == 503,
        )
    finally:
        first.kill()
        first.wait()
    assert site.request("GET", "/rest/issues/projects").json()["error"] == "tenant_restoring"
    again = tenantry(*command[3:], timeout=300)
    assert again.returncode == 0, again.stderr + again.stdout
    _served_again(cloud, site)
    assert _issues_of(site) == before
    info = json.loads(tenantry("tenant", "info", site.name, "--json", "--data-dir", root).stdout)
    assert info["status"] == "active"
    # The restore brought the account back as it was, but not the tokens revoked since.
    refused = revoked.request("GET", "/rest/identity/me")
    assert (refused.status_code, refused.json()["error"]) == (401, "token_revoked")
    generations = stored_rows(
        cloud,
        "global",
        cloud.data_dir / "global" / "identity.sqlite",
        "SELECT token_generation FROM accounts WHERE tenant_id = :t",
        t=site.cloud_id,
    )
    assert [g for (g,) in generations] == [1]  # raised by the password change, kept


def test_restore_refuses_a_purged_tenant_an_unknown_site_and_times_outside_the_backups(
    cloud: Cloud,
) -> None:
    root = str(cloud.data_dir)
    site = signup(cloud, region=REGION, prefix="gone")
    site.create_project()
    now = datetime.now(UTC).replace(microsecond=0).isoformat()
    too_old = tenantry(
        "tenant", "restore", site.name, "--at", "2001-01-01T00:00:00Z", "--yes", "--data-dir", root
    )
    assert too_old.returncode == 2
    assert "outside what the backups" in too_old.stderr
    purged = tenantry("tenant", "purge", site.name, "--yes", "--data-dir", root)
    assert purged.returncode == 0, purged.stderr
    refused = tenantry("tenant", "restore", site.name, "--at", now, "--yes", "--data-dir", root)
    assert refused.returncode == 1
    assert "was purged" in refused.stderr
    unknown = tenantry(
        "tenant", "restore", "no-such-site", "--at", now, "--yes", "--data-dir", root
    )
    assert unknown.returncode == 1
    assert "unknown_site" in unknown.stderr
    bad = tenantry("tenant", "restore", site.name, "--at", "soon", "--yes", "--data-dir", root)
    assert bad.returncode == 2
    assert "not an ISO 8601 time" in bad.stderr


def test_backup_now_and_a_drill_that_finds_a_corrupted_backup_file(cloud: Cloud) -> None:
    root = str(cloud.data_dir)
    site = signup(cloud, region="us", prefix="drill")
    site.create_project()
    site.create_issue("drilled", "its description")
    time.sleep(1.5)
    full = tenantry("backup", "now", "--region", "us", "--data-dir", root, timeout=120)
    assert full.returncode == 0, full.stderr
    assert "us: full backup taken" in full.stdout
    passed = tenantry("backup", "verify", "--region", "us", "--data-dir", root, timeout=300)
    assert passed.returncode == 0, passed.stderr + passed.stdout
    rows = json.loads(
        tenantry("backup", "status", "--json", "--region", "us", "--data-dir", root).stdout
    )
    assert all(r["last_full_backup"] and r["last_verified_ok"] is True for r in rows)
    assert all(r["last_verified_restore"] for r in rows)
    shard = shard_of(cloud, site.cloud_id)
    # The drill is in the log of every site it vouches for, naming the site's shard.
    assert "us: recorded in" in passed.stdout
    (verified,) = drill_events(site)
    assert verified["target"] == f"backups/{shard}"
    assert verified["actor"] == {"type": "operator", "id": "operator"}
    assert verified["detail"]["ok"] is True and verified["detail"]["restores_checked"] > 0

    for repository in ("us-a", "us-b"):
        files = sorted(
            (cloud.data_dir / "backups" / "us" / repository / "databases" / shard / "issues").rglob(
                "*.ltx"
            ),
            key=lambda p: p.stat().st_mtime,
        )
        damaged = bytearray(files[-1].read_bytes())
        damaged[len(damaged) // 2] ^= 0xFF
        files[-1].write_bytes(bytes(damaged))
    failed = tenantry("backup", "verify", "--region", "us", "--data-dir", root, timeout=300)
    assert failed.returncode == 1
    assert f"us:{shard}/issues" in failed.stderr
    assert "does not authenticate" in failed.stderr
    rows = json.loads(
        tenantry("backup", "status", "--json", "--region", "us", "--data-dir", root).stdout
    )
    assert all(r["last_verified_ok"] is False for r in rows)
    failed_drill = drill_events(site)[-1]["detail"]
    assert failed_drill["ok"] is False and failed_drill["failures"] > 0


def drill_events(site: Site) -> list[dict[str, Any]]:
    answer = site.request("GET", "/rest/audit/events", params={"limit": 1000})
    assert answer.status_code == 200, answer.text
    return [e for e in answer.json()["events"] if e["action"] == "backup_verified"]


def _writer(site: Site, answered: list[tuple[float, str]], stop: threading.Event) -> None:
    number = 0
    while not stop.is_set():
        number += 1
        summary = f"{site.name} write {number}"
        try:
            made = site.request(
                "POST",
                "/rest/issues/issues",
                json={"project": "OPS", "summary": summary, "description": ""},
            )
        except httpx.HTTPError:  # the cloud is being killed under it
            return
        assert made.status_code == 201 or stop.is_set(), made.text
        if made.status_code == 201:
            answered.append((time.time(), summary))


def _all_summaries(site: Site) -> list[str]:
    found: list[str] = []
    cursor = None
    while True:
        query = {"project": "OPS", **({"cursor": cursor} if cursor else {})}
        page = site.request("GET", "/rest/issues/issues", params=query)
        assert page.status_code == 200, page.text
        found += [issue["summary"] for issue in page.json()["issues"]]
        cursor = page.json().get("next_cursor")
        if not cursor:
            return found


def test_a_region_lost_whole_comes_back_from_its_backups(cloud: Cloud) -> None:
    sites = [signup(cloud, region=REGION, prefix=f"dr{n}") for n in (1, 2)]
    for site in sites:
        site.create_project()
    attachment = b"%s blob that must come back\n" % sites[0].name.encode()
    issue = sites[0].create_issue("has a file")
    uploaded = sites[0].request(
        "POST",
        f"/rest/issues/issues/{issue['key']}/attachments",
        files={"file": ("notes.txt", attachment, "text/plain")},
    )
    assert uploaded.status_code == 201, uploaded.text
    # A person erased after the second `global` is restored to below: their account comes back
    # with the global databases, and the erasure ledger's copy in the region brings the
    # erasure back before the site is served.
    erased_id, person = add_account(sites[0])
    accounts_at = second_passed(settle=0.5)
    erased = sites[0].request("POST", "/rest/privacy/erasures", json={"account_id": erased_id})
    assert erased.status_code == 201, erased.text
    writes: dict[str, list[tuple[float, str]]] = {s.name: [] for s in sites}
    stop = threading.Event()
    threads = [
        threading.Thread(target=_writer, args=(s.via(cloud.http(REGION)), writes[s.name], stop))
        for s in sites
    ]
    for thread in threads:
        thread.start()
    time.sleep(4)
    pids = list(cloud.pids().values())
    lost_at = time.time()
    os.kill(cloud.process.pid, signal.SIGKILL)
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    stop.set()
    for thread in threads:
        thread.join()
    cloud.process.wait()
    for site in sites:
        assert len(writes[site.name]) > 10  # both were writing when it was lost

    for shard in cloud.topology().regions[REGION].shards:
        shutil.rmtree(cloud.data_dir / "shards" / shard.name)
    shutil.rmtree(cloud.data_dir / "media" / REGION)
    (cloud.data_dir / "cloud.json").unlink()  # a killed `up` leaves it behind

    restored = tenantry(
        "backup",
        "restore",
        "--region",
        REGION,
        "--yes",
        "--data-dir",
        str(cloud.data_dir),
        timeout=300,
    )
    assert restored.returncode == 0, restored.stderr + restored.stdout
    assert "integrity checked" in restored.stdout
    assert "once it has replayed their erasure ledgers" in restored.stdout
    rewound = tenantry(
        "backup",
        "restore",
        "--region",
        "global",
        "--at",
        accounts_at.isoformat(),
        "--yes",
        "--data-dir",
        str(cloud.data_dir),
        timeout=300,
    )
    assert rewound.returncode == 0, rewound.stderr + rewound.stdout

    again = Cloud.start(cloud.data_dir, backups=True)
    try:
        _wait(
            "the sites served after their ledgers' replay",
            lambda: all(
                again.http(REGION)
                .post(
                    "/login",
                    json={"site": s.name, "email": f"admin@{s.name}.test", "password": PASSWORD},
                )
                .status_code
                == 200
                for s in sites
            ),
            seconds=60,
        )
        # Held back before any service started, served again once replayed.
        started = again.output_text()
        assert "sites restored from backups stay restoring until their erasure" in started
        assert f"{sites[0].name}: erasure ledger replayed after the region restore" in started
        gone = again.http(REGION).post(
            "/login", json={"site": sites[0].name, "email": person, "password": PASSWORD}
        )
        assert gone.status_code == 401, gone.text
        copies = stored_rows(
            again,
            "global",
            cloud.data_dir / "global" / "privacy.sqlite",
            "SELECT account_id FROM erasure_ledger WHERE tenant_id = :t",
            t=sites[0].cloud_id,
        )
        assert [a for (a,) in copies] == [erased_id]  # the global copy, rewound, healed
        for site in sites:
            back = log_in(site, again.http(REGION))
            summaries = _all_summaries(back)
            kept = [
                s for answered_at, s in writes[site.name] if answered_at < lost_at - RPO_SECONDS
            ]
            missing = sorted(set(kept) - set(summaries))
            assert not missing, f"{len(missing)} writes answered before the RPO were lost"
            assert all(s.startswith(site.name) or s == "has a file" for s in summaries)
        first = log_in(sites[0], again.http(REGION))
        listed = first.request("GET", f"/rest/issues/issues/{issue['key']}/attachments").json()
        download = first.http.get(listed["attachments"][0]["download_url"])
        assert download.status_code == 200
        assert download.content == attachment
    finally:
        again.stop()
