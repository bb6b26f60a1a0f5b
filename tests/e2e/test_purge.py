"""Purging a site shreds it: its data keys are destroyed, so nothing of it can be read again."""

from __future__ import annotations

import time

from backends import BACKEND

from .api import PASSWORD, signup
from .cloud import Cloud, tenantry
from .service_calls import data_key
from .stored import shard_of, stored_rows


def _wrapped_keys(cloud: Cloud, cloud_id: str, shard: str) -> list[tuple[int, bytes, str]]:
    schema = "" if BACKEND == "sqlite" else "kms."
    return [
        (int(version), bytes(wrapped), str(state))
        for version, wrapped, state in stored_rows(
            cloud,
            shard,
            cloud.data_dir / "shards" / shard / "kms.sqlite",
            f"SELECT version, wrapped, state FROM {schema}data_keys"  # noqa: S608
            " WHERE tenant_id = :id",
            id=cloud_id,
        )
    ]


def test_a_purged_site_can_never_be_read_again_and_its_neighbours_carry_on(cloud: Cloud) -> None:
    data_dir = ("--data-dir", str(cloud.data_dir))
    doomed = signup(cloud, region="au", prefix="purge")
    neighbour = signup(cloud, region="au", prefix="stays")
    for site in (doomed, neighbour):
        site.create_project()
        site.create_issue("a secret plan", "to be shredded or kept")
    rotated = tenantry("keys", "rotate-data-key", doomed.name, *data_dir)
    assert rotated.returncode == 0, rotated.stderr  # the site now has two key versions
    shard = shard_of(cloud, doomed.cloud_id)
    before = [state for _, _, state in _wrapped_keys(cloud, doomed.cloud_id, shard)]
    assert len(before) == 2 and "destroyed" not in before

    unconfirmed = tenantry("tenant", "purge", doomed.name, *data_dir)
    assert unconfirmed.returncode == 2
    assert "--yes" in unconfirmed.stderr
    assert doomed.request("GET", "/rest/issues/issues/OPS-1").status_code == 200

    purged = tenantry("tenant", "purge", doomed.name, "--yes", *data_dir)
    assert purged.returncode == 0, purged.stdout + purged.stderr
    assert f"{doomed.name}: purged, 2 data key versions destroyed" in purged.stdout

    # Every wrapped copy of every version is erased: no key, no reader, whoever asks.
    keys = _wrapped_keys(cloud, doomed.cloud_id, shard)
    assert keys == [
        (1, b"", "destroyed"),
        (2, b"", "destroyed"),
    ]
    # Services refuse the deleted site's context itself (kms's own 410 is tested in tests/kms).
    for refused in (data_key(cloud, doomed), *(data_key(cloud, doomed, version=v) for v in (1, 2))):
        assert refused.status == 403, refused.body
        assert refused.json()["error"] == "tenant_purged"

    deadline = time.monotonic() + 30
    while (gone := doomed.request("GET", "/rest/issues/issues/OPS-1")).status_code == 200:
        assert time.monotonic() < deadline, "every edge stops serving a purged site"
        time.sleep(0.1)
    assert gone.status_code == 404
    assert gone.json()["error"] == "unknown_site"
    # Logging in says the same as every other path; the name stays taken for good.
    login = doomed.http.post(
        "/login",
        json={"site": doomed.name, "email": f"admin@{doomed.name}.test", "password": PASSWORD},
    )
    assert (login.status_code, login.json()["error"]) == (404, "unknown_site")
    signup_again = doomed.http.post(
        "/signup",
        json={"site": doomed.name, "email": "new@x.test", "password": PASSWORD, "region": "au"},
    )
    assert (signup_again.status_code, signup_again.json()["error"]) == (409, "site_taken")

    resumed = tenantry("tenant", "resume", doomed.name, *data_dir)
    assert resumed.returncode == 1
    again = tenantry("tenant", "purge", doomed.name, "--yes", *data_dir)
    assert again.returncode == 0, again.stderr
    assert "purged already" in again.stdout

    # The region carries on: a root rotation skips the shredded keys, the neighbour reads on.
    root = tenantry("keys", "rotate", "--region", "au", *data_dir)
    assert root.returncode == 0, root.stdout + root.stderr
    assert _wrapped_keys(cloud, doomed.cloud_id, shard) == keys
    kept = neighbour.request("GET", "/rest/issues/issues/OPS-1")
    assert kept.status_code == 200
    assert kept.json()["summary"] == "a secret plan"
