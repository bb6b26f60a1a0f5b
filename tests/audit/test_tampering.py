"""Tampering with the audit service's storage is caught: `tenantry audit verify` fails and names
the first bad index; a log rolled back fails the consistency proof against a checkpoint saved
earlier; one tenant's events never show in another's log; a change whose service is killed
right after it answers still has its event in the log."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from backends import BACKEND
from e2e.api import Site, add_account, eventually, signup
from e2e.cloud import Cloud, tenantry
from e2e.stored import shard_of
from tenantry.platform.topology import load_topology
from tenantry.services.audit.models import node_of

from .standalone import verify_standalone

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory, storage_backend: str) -> Iterator[Cloud]:
    running = Cloud.start(tmp_path_factory.mktemp("audit-tamper") / "data")
    try:
        yield running
    finally:
        running.stop()


def audit_sql(cloud: Cloud, site: Site, sql: str, **params: Any) -> list[Any]:
    """Run `sql` on the audit tables of the site's shard, as someone with the disk would."""
    shard = shard_of(cloud, site.cloud_id)
    if BACKEND == "sqlite":
        url = f"sqlite:///{cloud.data_dir / 'shards' / shard / 'audit.sqlite'}"
        sql = sql.replace("audit.", "")
    else:
        dsn = load_topology(cloud.data_dir / "run" / "topology.toml").shards[shard].dsn
        assert dsn is not None
        url = dsn.replace("postgresql://", "postgresql+psycopg://")
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            result = connection.execute(text(sql), {"tenant": site.cloud_id, **params})
            return list(result.all()) if result.returns_rows else []
    finally:
        engine.dispose()


def log_size(site: Site) -> int:
    answer = site.request("GET", "/rest/audit/events", params={"limit": 1})
    assert answer.status_code == 200, answer.text
    return int(answer.json()["size"])


SIGNUP_EVENTS = 3
"""A sign-up logs the site's first data key, its admin's account, and the admin's login."""


def site_with_events(cloud: Cloud, count: int = 5) -> Site:
    """A new site whose log holds `count` events or one more (at least a sign-up's), all
    delivered: nothing is still on its way into the log when the test touches its storage."""
    site = signup(cloud)
    added = max(0, count - SIGNUP_EVENTS)
    for _ in range(added):
        add_account(site)
    wait_size(site, SIGNUP_EVENTS + added)
    return site


def wait_size(site: Site, size: int) -> None:
    """Wait until the site's log holds exactly `size` events."""
    eventually(f"{size} events", lambda: log_size(site) == size, seconds=20)


def verify(cloud: Cloud, site: Site, *extra: str) -> tuple[int, str]:
    done = tenantry(
        "audit",
        "verify",
        site.name,
        "--token",
        site.token,
        "--data-dir",
        str(cloud.data_dir),
        *extra,
    )
    return done.returncode, done.stdout + done.stderr


def test_an_untouched_log_verifies(cloud: Cloud) -> None:
    site = site_with_events(cloud)
    code, said = verify(cloud, site)
    assert code == 0, said
    assert "verified" in said


def test_an_edited_event_is_named(cloud: Cloud) -> None:
    site = site_with_events(cloud)
    audit_sql(
        cloud,
        site,
        'UPDATE audit.audit_events SET entry = replace(entry, \'"target":"\', \'"target":"x\') '
        "WHERE tenant_id = :tenant AND leaf_index = 2",
    )
    code, said = verify(cloud, site)
    assert code == 1, said
    assert "bad index 2" in said
    standalone = verify_standalone(cloud, site)
    assert standalone.returncode == 1, standalone.stdout + standalone.stderr
    assert "bad index 2" in standalone.stderr


def test_a_deleted_event_is_named(cloud: Cloud) -> None:
    site = site_with_events(cloud)
    audit_sql(
        cloud, site, "DELETE FROM audit.audit_events WHERE tenant_id = :tenant AND leaf_index = 3"
    )
    code, said = verify(cloud, site)
    assert code == 1, said
    assert "bad index 3" in said


def test_reordered_events_are_named(cloud: Cloud) -> None:
    site = site_with_events(cloud)
    rows = audit_sql(
        cloud,
        site,
        "SELECT leaf_index, entry FROM audit.audit_events WHERE tenant_id = :tenant "
        "AND leaf_index IN (1, 2) ORDER BY leaf_index",
    )
    for (index, _), (_, entry) in zip(rows, reversed(rows), strict=True):
        audit_sql(
            cloud,
            site,
            "UPDATE audit.audit_events SET entry = :entry "
            "WHERE tenant_id = :tenant AND leaf_index = :index",
            entry=entry,
            index=index,
        )
    code, said = verify(cloud, site)
    assert code == 1, said
    assert "bad index 1" in said


def test_an_inserted_event_is_named(cloud: Cloud) -> None:
    site = site_with_events(cloud)
    (entry,) = audit_sql(
        cloud,
        site,
        "SELECT entry FROM audit.audit_events WHERE tenant_id = :tenant AND leaf_index = 1",
    )[0]
    # Make room at index 1 (through negative indexes, so no two rows share one on the way).
    audit_sql(
        cloud,
        site,
        "UPDATE audit.audit_events SET leaf_index = -leaf_index - 1 "
        "WHERE tenant_id = :tenant AND leaf_index >= 1",
    )
    audit_sql(
        cloud,
        site,
        "UPDATE audit.audit_events SET leaf_index = -leaf_index "
        "WHERE tenant_id = :tenant AND leaf_index < 0",
    )
    audit_sql(
        cloud,
        site,
        "INSERT INTO audit.audit_events (tenant_id, leaf_index, event_id, action, entry) "
        "VALUES (:tenant, 1, 'forged', 'login', :entry)",
        entry=entry.replace('"target":"', '"target":"forged-'),
    )
    code, said = verify(cloud, site)
    assert code == 1, said
    assert "bad index 1" in said


def test_a_log_rolled_back_fails_against_a_saved_checkpoint(cloud: Cloud, tmp_path: Path) -> None:
    site = site_with_events(cloud, 4)
    early = tmp_path / "early.note"
    code, said = verify(cloud, site, "--save-checkpoint", str(early))
    assert code == 0, said
    before = log_size(site)
    add_account(site)
    add_account(site)
    wait_size(site, before + 2)
    saved = tmp_path / "saved.note"
    code, said = verify(cloud, site, "--save-checkpoint", str(saved))
    assert code == 0, said
    size = log_size(site)

    # Roll the whole log (entries, nodes, checkpoints, sizes) back to the early checkpoint.
    keep = int(early.read_text().split("\n")[1])
    audit_sql(
        cloud,
        site,
        "DELETE FROM audit.audit_events WHERE tenant_id = :tenant AND leaf_index >= :keep",
        keep=keep,
    )
    audit_sql(
        cloud,
        site,
        "DELETE FROM audit.audit_checkpoints WHERE tenant_id = :tenant AND tree_size > :keep",
        keep=keep,
    )
    keys = audit_sql(
        cloud, site, "SELECT node_key FROM audit.audit_nodes WHERE tenant_id = :tenant"
    )
    for (key,) in keys:
        level, index = node_of(key)
        if (index + 1) << level > keep:  # a subtree reaching past the kept entries
            audit_sql(
                cloud,
                site,
                "DELETE FROM audit.audit_nodes WHERE tenant_id = :tenant AND node_key = :key",
                key=key,
            )
    audit_sql(
        cloud,
        site,
        "UPDATE audit.audit_trees SET size = :keep, signed_size = :keep WHERE cloud_id = :tenant",
        keep=keep,
    )
    code, said = verify(cloud, site)
    assert code == 0, said  # on its own, a rolled back log looks whole
    code, said = verify(cloud, site, "--since-checkpoint", str(saved))
    assert code == 1, said
    assert "rolled back" in said

    # It grows again past the saved size, with other events: the consistency proof fails.
    for _ in range(size - keep + 1):
        add_account(site, role="viewer")
    wait_size(site, size + 1)
    code, said = verify(cloud, site, "--since-checkpoint", str(saved))
    assert code == 1, said
    assert "consistency proof" in said
    standalone = verify_standalone(cloud, site, "--since-checkpoint", str(saved))
    assert standalone.returncode == 1, standalone.stdout + standalone.stderr
    assert "consistency proof" in standalone.stderr
    code, said = verify(cloud, site, "--since-checkpoint", str(early))
    assert code == 0, said  # what came before the rollback point still holds


def test_a_tenants_events_never_show_in_another_log(cloud: Cloud) -> None:
    first, second = site_with_events(cloud, 3), site_with_events(cloud, 3)
    for site in (first, second):
        answer = site.request("GET", "/rest/audit/events", params={"limit": 1000})
        assert {e["tenant"] for e in answer.json()["events"]} == {site.cloud_id}
        checkpoint = site.request("GET", "/rest/audit/checkpoint").json()["checkpoint"]
        assert checkpoint.split("\n")[0].endswith("/" + site.cloud_id)
    # The first site's token, naming the second site: refused, never the second's log.
    for path in ("/rest/audit/events", "/rest/audit/checkpoint"):
        crossed = first.http.get(path, headers=second.headers(first.token))
        assert crossed.status_code in (401, 403, 404), crossed.text
    unknown = first.http.get(
        "/rest/audit/proof/inclusion",
        params={"index": 0, "size": 1},
        headers={**first.headers(), "X-Tenantry-Site": "no-such-site-anywhere"},
    )
    assert unknown.status_code == 404, unknown.text


def test_an_event_survives_its_service_killed_right_after_it_answers(cloud: Cloud) -> None:
    site = site_with_events(cloud, 2)
    before = log_size(site)
    identity = cloud.pid_of("identity")
    account, _ = add_account(site)
    os.kill(identity, signal.SIGKILL)
    cloud.wait_restarted(cloud.process_of("identity"))

    def recorded() -> bool:
        answer = site.request("GET", "/rest/audit/events", params={"after": before - 1})
        return answer.status_code == 200 and any(
            e["action"] == "account_created" and e["target"] == account
            for e in answer.json()["events"]
        )

    eventually("the account_created event after the restart", recorded, seconds=30)
