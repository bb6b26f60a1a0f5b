"""`tenantry tenant list` and `tenant info` against a real cloud: each site's cloud id,
region, shard, status and creation time, as a table or as JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from .api import signup
from .cloud import Cloud, tenantry

pytestmark = pytest.mark.e2e
FIELDS = {
    "site",
    "cloud_id",
    "region",
    "shard",
    "status",
    "key_available",
    "deleted_at",
    "created_at",
}


def test_sites_are_listed_and_shown_with_where_they_live(cloud: Cloud) -> None:
    started = datetime.now(UTC) - timedelta(seconds=5)
    eu = signup(cloud, region="eu", prefix="ops-list")
    au = signup(cloud, region="au", prefix="ops-list")
    data = str(cloud.data_dir)
    assert tenantry("tenant", "suspend", au.name, "--data-dir", data).returncode == 0

    listed = tenantry("tenant", "list", "--json", "--data-dir", data)
    assert listed.returncode == 0, listed.stderr
    sites = {site["site"]: site for site in json.loads(listed.stdout)}
    names = list(sites)
    assert names == sorted(names)
    for made, region, status in ((eu, "eu", "active"), (au, "au", "suspended")):
        site = sites[made.name]
        assert set(site) == FIELDS
        assert (site["cloud_id"], site["region"], site["status"]) == (made.cloud_id, region, status)
        assert site["shard"].startswith(f"{region}-")
        created = datetime.fromisoformat(site["created_at"])
        assert started <= created <= datetime.now(UTC)

    shown = tenantry("tenant", "info", eu.name, "--json", "--data-dir", data)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == sites[eu.name]

    table = tenantry("tenant", "list", "--data-dir", data)
    assert table.returncode == 0, table.stderr
    row = next(line for line in table.stdout.splitlines() if au.name in line)
    assert au.cloud_id in row and "suspended" in row and sites[au.name]["shard"] in row
    info = tenantry("tenant", "info", eu.name, "--data-dir", data)
    assert eu.cloud_id in info.stdout and sites[eu.name]["created_at"] in info.stdout


def test_an_unknown_site_is_a_clear_error(cloud: Cloud) -> None:
    data = str(cloud.data_dir)
    for name in ("no-such-site", "Not A Site!"):
        done = tenantry("tenant", "info", name, "--data-dir", data)
        assert done.returncode == 1, done.stdout + done.stderr
        assert "Traceback" not in done.stderr
    assert "unknown_site" in tenantry("tenant", "info", "no-such-site", "--data-dir", data).stderr
