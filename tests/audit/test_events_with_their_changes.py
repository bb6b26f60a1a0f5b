"""Events commit with the changes they record, through a real cloud: a switch to the site's own
key and kms finding that key revoked are written with their events or not at all, whatever
kms's outbox storage does, and an account erased when its grace ends is in the site's log.

kms's outbox is broken by renaming its `audit_outbox` table in every database kms writes
events to (the global one and the region's shards), so no event can be written; then put back.
The customer's KMS is moto on loopback, as in tests/audit/test_every_event.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from backends import BACKEND
from e2e.api import Site, add_account, eventually, signup
from e2e.cloud import Cloud, tenantry
from e2e.customer_kms_cloud import customer_kms_client, start_with_customer_kms
from tenantry.platform.topology import load_topology

pytestmark = pytest.mark.e2e

REGION = "eu"


@pytest.fixture(scope="module")
def cloud(
    kms_endpoint: str, tmp_path_factory: pytest.TempPathFactory, storage_backend: str
) -> Iterator[Cloud]:
    """A cloud whose deleted accounts are erased as soon as identity's loop sees them."""
    folder = tmp_path_factory.mktemp("audit-with-changes")
    default = (
        Path(__file__).parents[2] / "src/tenantry/platform/default_topology.toml"
    ).read_text()
    config = folder / "topology.toml"
    # Without the comments, which mention `dsn`: the test backend then adds its databases.
    lines = [line for line in default.splitlines() if not line.lstrip().startswith("#")]
    config.write_text("\n".join(lines).replace("site_grace_days = 14", "site_grace_days = 0"))
    running = start_with_customer_kms(folder, kms_endpoint, config=config, key_check_seconds=0.5)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def customer(kms_endpoint: str) -> Any:
    return customer_kms_client(kms_endpoint)


def kms_databases(cloud: Cloud) -> list[tuple[str, str]]:
    """(SQLAlchemy URL, table prefix) of every database kms of REGION writes events to."""
    if BACKEND == "sqlite":
        files = [cloud.data_dir / "global" / "kms.sqlite"] + [
            cloud.data_dir / "shards" / shard.name / "kms.sqlite"
            for shard in cloud.topology().regions[REGION].shards
        ]
        return [(f"sqlite:///{path}", "") for path in files]
    topology = load_topology(cloud.data_dir / "run" / "topology.toml")
    dsns = [topology.global_dsn] + [
        topology.shards[shard.name].dsn for shard in topology.regions[REGION].shards
    ]
    return [(str(dsn).replace("postgresql://", "postgresql+psycopg://"), "kms.") for dsn in dsns]


def rename_outboxes(cloud: Cloud, old: str, new: str) -> None:
    for url, schema in kms_databases(cloud):
        engine = create_engine(url)
        try:
            with engine.begin() as connection:
                connection.execute(text(f"ALTER TABLE {schema}{old} RENAME TO {new}"))
        finally:
            engine.dispose()


def break_outboxes(cloud: Cloud) -> None:
    rename_outboxes(cloud, "audit_outbox", "audit_outbox_away")


def mend_outboxes(cloud: Cloud) -> None:
    rename_outboxes(cloud, "audit_outbox_away", "audit_outbox")


def operator(cloud: Cloud, *args: str) -> tuple[int, str]:
    done = tenantry(*args, "--data-dir", str(cloud.data_dir), timeout=180)
    return done.returncode, done.stdout + done.stderr


def actions(site: Site) -> list[str] | None:
    """The site's logged actions, or None while the edge does not serve the site."""
    answer = site.request("GET", "/rest/audit/events", params={"limit": 1000})
    if answer.status_code != 200:
        return None
    return [event["action"] for event in answer.json()["events"]]


def wait_logged(site: Site, action: str, seconds: float = 30) -> dict[str, Any]:
    eventually(action, lambda: action in (actions(site) or []), seconds=seconds)
    answer = site.request("GET", "/rest/audit/events", params={"limit": 1000})
    return next(e for e in answer.json()["events"] if e["action"] == action)


def test_a_switch_to_the_sites_own_key_commits_with_its_event_or_not_at_all(
    cloud: Cloud, customer: Any
) -> None:
    site = signup(cloud, region=REGION, via=REGION, prefix="switch")
    wait_logged(site, "login")
    arn = customer.create_key()["KeyMetadata"]["Arn"]

    break_outboxes(cloud)
    try:
        code, out = operator(cloud, "keys", "byok", site.name, "--aws-kms-key", arn)
        assert code == 1 and "Traceback" not in out, out
    finally:
        mend_outboxes(cloud)
    # The event could not be written, so the switch did not happen either.
    code, out = operator(cloud, "keys", "byok", site.name, "--off")
    assert code == 1 and "byok_not_enabled" in out, out
    assert "byok_enabled" not in (actions(site) or [])

    code, out = operator(cloud, "keys", "byok", site.name, "--aws-kms-key", arn)
    assert code == 0, out
    assert wait_logged(site, "byok_enabled")["detail"]["key_ref"] == arn
    assert wait_logged(site, "data_keys_moved")["detail"]["key_ref"] == arn


def test_a_revoked_key_found_while_events_cannot_be_written_is_logged_once_they_can(
    cloud: Cloud, customer: Any
) -> None:
    site = signup(cloud, region=REGION, via=REGION, prefix="watched")
    arn = customer.create_key()["KeyMetadata"]["Arn"]
    code, out = operator(cloud, "keys", "byok", site.name, "--aws-kms-key", arn)
    assert code == 0, out
    wait_logged(site, "byok_enabled")

    break_outboxes(cloud)
    try:
        customer.disable_key(KeyId=arn.rsplit("/", 1)[1])
        # The site goes offline all the same: a revocation never waits for its record.
        eventually(
            "the key found revoked",
            lambda: site.request("GET", "/rest/audit/checkpoint").status_code == 503,
            seconds=60,
        )
    finally:
        mend_outboxes(cloud)
    # The site is refused meanwhile, so its key events are read as the operator reads them.
    eventually(
        "the revocation logged", lambda: "byok_key_revoked" in key_actions(cloud, site), seconds=60
    )
    customer.enable_key(KeyId=arn.rsplit("/", 1)[1])
    wait_logged(site, "byok_key_restored", seconds=60)
    logged = actions(site) or []
    assert logged.count("byok_key_revoked") == 1, logged
    assert logged.index("byok_key_revoked") < logged.index("byok_key_restored"), logged


def key_actions(cloud: Cloud, site: Site) -> list[str]:
    done = tenantry(
        "keys", "audit", "--site", site.name, "--json", "--data-dir", str(cloud.data_dir)
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return [json.loads(line)["action"] for line in done.stdout.splitlines()]


def test_an_account_erased_when_its_grace_ends_is_in_the_sites_log(cloud: Cloud) -> None:
    site = signup(cloud, region=REGION, via=REGION, prefix="erased")
    member, _ = add_account(site)
    assert site.request("DELETE", f"/rest/identity/accounts/{member}").status_code == 204
    # identity's erasure loop looks once a minute; the grace here is none.
    erased = wait_logged(site, "account_erased", seconds=150)
    assert erased["target"] == member
    assert erased["actor"] == {"type": "service", "id": "identity"}
    listed = site.request("GET", "/rest/identity/accounts").json()["accounts"]
    assert member not in {account["account_id"] for account in listed}
