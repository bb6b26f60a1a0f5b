"""A cloud on a PostgreSQL cluster of its own, protected by pgBackRest through `tenantry up`:
the backup service prepares pgBackRest and takes the first full backup, `backup status` shows
every shard protected, `backup now` and `backup verify` work, one tenant goes back to a second
while its neighbour's later writes stay (and an account erased since stays erased), and a server
that stops answering is reported.

The test owns the cluster's archive settings: it sets what the region's pgBackRest engine says
the server needs before the cloud starts, as the server's operator would.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from own_cluster import OwnCluster, own_cluster
from psycopg import sql

from backup.moments import second_passed
from e2e.api import PASSWORD, Site, add_account, signup
from e2e.cloud import Cloud, tenantry
from tenantry.cli.erasure_replay import hold_back_restored, pending
from tenantry.platform.topology import load_topology
from tenantry.services.backup.engines.pgbackrest.cloud import owned_engine
from tenantry.services.backup.pgbackrest_agent import due_backup

REGION = "us"


def _topology(cluster: OwnCluster, prefix: str) -> str:
    return (
        f'[global]\ndsn = "{cluster.dsn("tenantry_global")}"\n\n'
        f'[postgres]\nrole_prefix = "{prefix}"\npool_size = 1\n\n'
        '[regions.us]\nzones = ["us-a", "us-b"]\n'
        f'shards = [{{ name = "us-1", zone = "us-a", dsn = "{cluster.dsn("tenantry_us_1")}" }}]\n'
        '\n[placement]\ndefault_region = "us"\n'
    )


def _own_archive_settings(cluster: OwnCluster, data_dir: Path, config: Path) -> None:
    """Set what pgBackRest says the server needs (and room for a cloud's connections)."""
    engine = owned_engine(data_dir, load_topology(config), REGION, None)
    assert engine is not None
    (stanza,) = engine.stanzas
    wanted = {**engine.server_settings(stanza.name), "max_connections": "100"}
    with psycopg.connect(cluster.dsn("postgres"), autocommit=True) as connection:
        for name, value in wanted.items():
            statement = sql.SQL("ALTER SYSTEM SET {} = {}")
            connection.execute(statement.format(sql.Identifier(name), sql.Literal(value)))
    cluster.restart()


@pytest.fixture(scope="module")
def cloud() -> Iterator[tuple[Cloud, OwnCluster]]:
    # pytest's temporary directories are closed to the server's user: use one it can enter.
    base = Path(tempfile.mkdtemp(prefix="tenantry-pgbr-cloud-"))
    base.chmod(0o755)
    try:
        with own_cluster() as cluster:
            config = base / "topology.toml"
            config.write_text(_topology(cluster, f"tp{uuid.uuid4().hex[:6]}"))
            _own_archive_settings(cluster, base / "data", config)
            running = Cloud.start(base / "data", config=config, backups=True)
            try:
                yield running, cluster
            finally:
                if running.running:
                    running.stop(check=False)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _status(cloud: Cloud) -> list[dict[str, Any]]:
    done = tenantry("backup", "status", "--json", "--data-dir", str(cloud.data_dir))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    rows: list[dict[str, Any]] = json.loads(done.stdout)
    return rows


def _wait(what: str, probe: Any, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not probe():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.5)


def _fully_backed_up(cloud: Cloud) -> bool:
    """Both repositories hold a full backup (the agent's first one has finished)."""
    engine = owned_engine(cloud.data_dir, cloud.topology(), REGION, None)
    assert engine is not None
    try:
        fulls = {record.repo_key for record in engine.backups() if record.kind == "full"}
    except RuntimeError:
        return False
    return fulls == {1, 2}


def _issues_of(site: Site) -> list[tuple[str, str, str]]:
    page = site.request("GET", "/rest/issues/issues", params={"project": "OPS"}).json()
    return sorted((i["key"], i["summary"], i["status"]) for i in page["issues"])


def test_a_tenant_goes_back_to_a_second_on_postgresql_and_its_neighbour_keeps_its_writes(
    cloud: tuple[Cloud, OwnCluster],
) -> None:
    running, _cluster = cloud
    root = str(running.data_dir)
    _wait("the backup service's first full backup", lambda: _fully_backed_up(running), 180)
    rows = _status(running)
    assert {row["shard"] for row in rows} == {"us-1", "global"}
    for row in rows:
        assert row["tool"] == "pgbackrest"
        assert row["problems"] == [], row
        assert row["last_full_backup"] is not None
        assert [r["reachable"] for r in row["repositories"]] == [True, True]
    # The server's user reaches its configuration through its group; nobody else gains a thing.
    assert not running.data_dir.stat().st_mode & 0o007
    assert not (running.data_dir / "backups").stat().st_mode & 0o007

    tenant = signup(running, region=REGION, prefix="pgpitr")
    neighbour = signup(running, region=REGION, prefix="pgnext")
    for site in (tenant, neighbour):
        site.create_project()
    for number in range(3):
        tenant.create_issue(f"kept {number}", f"details {number}")
    neighbour.create_issue("the neighbour's first")
    now = tenantry("backup", "now", "--data-dir", root, timeout=300)
    assert now.returncode == 0, now.stderr + now.stdout
    assert "us: full backup taken" in now.stdout
    snapshot = _issues_of(tenant)
    erased_id, erased_email = add_account(tenant)
    at = second_passed(1.0)

    # An account erased after the second: the restore brings its row back, the erasure
    # ledger's replay takes it away again before the site is served.
    erased = tenant.request("POST", "/rest/privacy/erasures", json={"account_id": erased_id})
    assert erased.status_code == 201, erased.text
    assert tenant.request("DELETE", "/rest/issues/issues/OPS-1").status_code == 204
    edited = tenant.request("PATCH", "/rest/issues/issues/OPS-2", json={"summary": "edited"})
    assert edited.status_code == 200, edited.text
    tenant.create_issue("made after the second")
    for number in range(2):
        neighbour.create_issue(f"the neighbour's later {number}")
    neighbour_before = _issues_of(neighbour)
    assert _issues_of(tenant) != snapshot

    restored = tenantry(
        "tenant",
        "restore",
        tenant.name,
        "--at",
        at.isoformat(),
        "--yes",
        "--data-dir",
        root,
        timeout=600,
    )
    assert restored.returncode == 0, restored.stderr + restored.stdout
    assert "counts and checksums match" in restored.stdout
    _wait(
        "the tenant served again",
        lambda: tenant.request("GET", "/rest/issues/projects").status_code == 200,
        30,
    )
    assert _issues_of(tenant) == snapshot
    assert _issues_of(neighbour) == neighbour_before
    assert "erasure ledger: 1 erasures replayed" in restored.stdout
    gone = tenant.http.post(
        "/login", json={"site": tenant.name, "email": erased_email, "password": PASSWORD}
    )
    assert gone.status_code == 401, gone.text
    listed = tenant.request("GET", "/rest/identity/accounts").json()
    assert erased_id not in json.dumps(listed) and erased_email not in json.dumps(listed)
    assert len(neighbour_before) == 3

    drill = tenantry("backup", "verify", "--region", REGION, "--data-dir", root, timeout=600)
    assert drill.returncode == 0, drill.stderr + drill.stdout
    assert "us: 2 restores checked, ok" in drill.stdout
    assert all(row["last_verified_ok"] is not False for row in _status(running))


def test_a_server_that_stops_answering_is_reported_and_comes_back_whole_from_its_backups(
    cloud: tuple[Cloud, OwnCluster],
) -> None:
    running, cluster = cloud
    root = str(running.data_dir)
    count = "SELECT tenant_id, count(*) FROM issues.issues GROUP BY 1 ORDER BY 1"
    before = cluster.execute("tenantry_us_1", count)
    assert before
    ((data_directory,),) = cluster.execute("postgres", "SHOW data_directory")
    running.stop(check=False)
    restore = ("backup", "restore", "--region", REGION, "--yes", "--data-dir", root)
    refused = tenantry(*restore, timeout=120)
    assert refused.returncode == 1
    assert "is running: stop it before restoring over it" in refused.stderr
    cluster.stop()

    rows = _status(running)
    assert rows
    for row in rows:
        assert any("does not answer" in problem for problem in row["problems"]), row
    now = tenantry("backup", "now", "--data-dir", root, timeout=120)
    assert now.returncode == 1
    assert "Traceback" not in now.stdout + now.stderr
    assert "tenantry backup:" in now.stderr

    # Every database's files lost: the server comes back from the repositories, every row too.
    shutil.rmtree(Path(str(data_directory)) / "base")
    restored = tenantry(*restore, timeout=600)
    assert restored.returncode == 0, restored.stderr + restored.stdout
    cluster.start()
    assert cluster.execute("tenantry_us_1", count) == before
    # What `up` does first: the sites the restore rewound wait, restoring, for the replay of
    # their erasure ledgers (written in the catalog on the server, as tcs is not running).
    assert "once it has replayed their erasure ledgers" in restored.stdout
    held = hold_back_restored(running.data_dir, running.topology())
    assert len(held) == 2
    statuses = "SELECT site, status FROM tcs.tenants WHERE region = 'us'"
    assert {(str(s), str(t)) for s, t in cluster.execute("tenantry_global", statuses)} == {
        (site, "restoring") for site in held
    }
    assert {waiting.site for waiting in pending(running.data_dir)} == set(held)
    assert hold_back_restored(running.data_dir, running.topology()) == []  # noted once


def test_the_backup_due_is_full_daily_and_incremental_between() -> None:
    noon = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    two = 2 * 60
    hour = timedelta(hours=1)
    assert due_backup(noon, two, 2, {}, {}) == "full"
    fresh = {1: noon - hour / 2, 2: noon - hour / 2}
    assert due_backup(noon, two, 2, {1: noon - hour / 2}, fresh) == "full"  # one repository
    today = noon.replace(hour=3)
    assert due_backup(noon, two, 2, {1: today, 2: today}, fresh) is None
    stale = {1: noon - 2 * hour, 2: noon - hour / 2}
    assert due_backup(noon, two, 2, {1: today, 2: today}, stale) == "incr"
    yesterday = today - timedelta(days=1)
    assert due_backup(noon, two, 2, {1: yesterday, 2: today}, fresh) == "full"
    # Before today's time, yesterday's full backup is the one due.
    early = noon.replace(hour=1)
    assert due_backup(early, two, 2, {1: yesterday, 2: yesterday}, {1: early, 2: early}) is None
