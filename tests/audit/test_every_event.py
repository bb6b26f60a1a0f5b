"""Every action that must be recorded is, in the site's own log, with the right actor: one site
walked through logins, account changes (a deleted account restored too), a revoked token, media
settings, a data key rotation, BYOK on and off with its key revoked and restored on the way,
suspension and resumption, deletion and undeletion, and finally its purge.

The customer's KMS is moto on loopback, reached by the cloud's kms as in tests/e2e/test_byok.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from backends import BACKEND
from e2e.api import PASSWORD, Site, add_account, eventually, signup, token_for
from e2e.cloud import Cloud, tenantry
from e2e.customer_kms_cloud import customer_kms_client, start_with_customer_kms
from e2e.stored import shard_of
from tenantry.platform.topology import load_topology

pytestmark = pytest.mark.e2e

OPERATOR = {"type": "operator", "id": "operator"}


@pytest.fixture(scope="module")
def cloud(
    kms_endpoint: str, tmp_path_factory: pytest.TempPathFactory, storage_backend: str
) -> Iterator[Cloud]:
    folder = tmp_path_factory.mktemp("audit-walk")
    running = start_with_customer_kms(folder, kms_endpoint, key_check_seconds=0.5)
    try:
        yield running
    finally:
        running.stop()


def operator(cloud: Cloud, *args: str) -> None:
    done = tenantry(*args, "--data-dir", str(cloud.data_dir), timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr


def logged(site: Site) -> list[dict[str, Any]]:
    answer = site.request("GET", "/rest/audit/events", params={"limit": 1000})
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["events"]
    return found


def wait_logged(site: Site, action: str) -> dict[str, Any]:
    """The first event of `action` in the site's log, once it is there (and the site is
    served: right after its own key comes back, the edges may take a moment to follow)."""

    def landed() -> bool:
        answer = site.request("GET", "/rest/audit/events", params={"limit": 1000})
        return answer.status_code == 200 and any(
            e["action"] == action for e in answer.json()["events"]
        )

    eventually(action, landed, seconds=30)
    return next(e for e in logged(site) if e["action"] == action)


def stored_entries(cloud: Cloud, site: Site) -> list[dict[str, Any]]:
    """The site's log straight from the audit service's storage (after the site is gone)."""
    shard = shard_of(cloud, site.cloud_id)
    if BACKEND == "sqlite":
        url, table = f"sqlite:///{cloud.data_dir / 'shards' / shard / 'audit.sqlite'}", ""
    else:
        dsn = load_topology(cloud.data_dir / "run" / "topology.toml").shards[shard].dsn
        assert dsn is not None
        url, table = dsn.replace("postgresql://", "postgresql+psycopg://"), "audit."
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            rows = c.execute(
                text(
                    f"SELECT entry FROM {table}audit_events "  # noqa: S608
                    "WHERE tenant_id = :t ORDER BY leaf_index"
                ),
                {"t": site.cloud_id},
            ).all()
    finally:
        engine.dispose()
    return [json.loads(row.entry) for row in rows]


def test_every_recorded_action_lands_in_the_sites_log(cloud: Cloud, kms_endpoint: str) -> None:
    site = signup(cloud, region="eu", via="eu", prefix="walk")
    admin = wait_logged(site, "login")["target"]
    assert wait_logged(site, "account_created")["detail"] == {"role": "admin"}
    assert wait_logged(site, "data_key_created")["actor"] == {"type": "service", "id": "identity"}

    wrong = site.http.post(
        "/login", json={"site": site.name, "email": f"admin@{site.name}.test", "password": "no"}
    )
    assert wrong.status_code == 401
    assert wait_logged(site, "login_failed")["target"] == admin

    member, _ = add_account(site)
    for body in ({"role": "admin"}, {"active": False}):
        changed = site.request("PATCH", f"/rest/identity/accounts/{member}", json=body)
        assert changed.status_code == 200, changed.text
    assert site.request("DELETE", f"/rest/identity/accounts/{member}").status_code == 204
    assert wait_logged(site, "account_role_changed")["detail"] == {"old": "member", "new": "admin"}
    assert wait_logged(site, "account_deactivated")["target"] == member
    assert wait_logged(site, "account_deleted")["actor"] == {"type": "account", "id": admin}
    restored = site.request("POST", f"/rest/identity/accounts/{member}/restore")
    assert restored.status_code == 200, restored.text
    assert wait_logged(site, "account_restored")["target"] == member

    second = token_for(site, f"admin@{site.name}.test", PASSWORD)
    logout = site.request("POST", "/logout", headers={"Authorization": f"Bearer {second}"})
    assert logout.status_code == 204, logout.text
    assert wait_logged(site, "token_revoked")["target"] == admin

    settings = site.request("PATCH", "/rest/media/settings", json={"view_only": True})
    assert settings.status_code == 200, settings.text
    assert wait_logged(site, "media_settings_changed")["detail"] == {"view_only": True}

    operator(cloud, "keys", "rotate-data-key", site.name)
    assert wait_logged(site, "data_key_rotated")["actor"] == OPERATOR
    assert wait_logged(site, "data_keys_retired")["actor"] == OPERATOR

    customer = customer_kms_client(kms_endpoint)
    arn = customer.create_key()["KeyMetadata"]["Arn"]
    operator(cloud, "keys", "byok", site.name, "--aws-kms-key", arn)
    assert wait_logged(site, "byok_enabled")["detail"]["key_ref"] == arn
    assert wait_logged(site, "data_keys_moved")["detail"]["key_ref"] == arn
    customer.disable_key(KeyId=arn.rsplit("/", 1)[1])
    # The site is refused while its key is off, so the events are read once it is back.
    eventually(
        "the key found revoked",
        lambda: site.request("GET", "/rest/audit/checkpoint").status_code == 503,
        seconds=60,
    )
    customer.enable_key(KeyId=arn.rsplit("/", 1)[1])
    assert wait_logged(site, "byok_key_revoked")["actor"] == {"type": "service", "id": "kms"}
    assert wait_logged(site, "byok_key_restored")["detail"]["key_ref"] == arn
    operator(cloud, "keys", "byok", site.name, "--off")
    assert wait_logged(site, "byok_disabled")["actor"] == OPERATOR

    operator(cloud, "tenant", "suspend", site.name)
    operator(cloud, "tenant", "resume", site.name)
    assert wait_logged(site, "tenant_suspended")["actor"] == OPERATOR
    assert wait_logged(site, "tenant_resumed")["detail"] == {"status": "active"}
    operator(cloud, "tenant", "delete", site.name)
    operator(cloud, "tenant", "undelete", site.name)
    assert wait_logged(site, "tenant_deleted")["detail"] == {"status": "deleted"}
    assert wait_logged(site, "tenant_undeleted")["actor"] == OPERATOR

    keys = tenantry(
        "keys", "audit", "--site", site.name, "--json", "--data-dir", str(cloud.data_dir)
    )
    assert keys.returncode == 0, keys.stderr
    key_actions = [json.loads(line)["action"] for line in keys.stdout.splitlines()]
    assert key_actions[0] == "data_key_created"
    for action in (
        "data_key_rotated",
        "data_keys_retired",
        "byok_enabled",
        "data_keys_moved",
        "byok_disabled",
    ):
        assert action in key_actions
    unknown = tenantry("keys", "audit", "--site", "no-such-site", "--data-dir", str(cloud.data_dir))
    assert unknown.returncode == 1 and "unknown_site" in unknown.stderr

    verified = tenantry(
        "audit", "verify", site.name, "--token", site.token, "--data-dir", str(cloud.data_dir)
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr

    operator(cloud, "tenant", "purge", site.name, "--yes")

    def purged() -> bool:
        actions = [entry["action"] for entry in stored_entries(cloud, site)]
        return "data_keys_destroyed" in actions and "tenant_purged" in actions

    eventually("the purge recorded", purged, seconds=30)
    entries = stored_entries(cloud, site)
    assert {entry["tenant"] for entry in entries} == {site.cloud_id}
    for entry in entries:
        assert "password" not in json.dumps(entry)
