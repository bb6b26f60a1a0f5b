"""Transfers of a site's personal data out of its home region, end to end: a request through
another region's edge is forwarded and recorded with the pair's legal basis; through an edge of
a pair configured `none` it is refused (451 `transfer_not_permitted`), not forwarded, and
recorded as refused; only the site's admins see its records, and another site sees none."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from typing import Any

import pytest

from .api import Site, add_account, eventually, signup, token_for
from .cloud import Cloud, tenantry

pytestmark = pytest.mark.e2e

TRANSFERS = """
[transfers]
default = "scc"
flush_seconds = 0.2
[transfers.pairs.us]
eu = "adequacy"
au = "none"
"""


@pytest.fixture(scope="module")
def transfer_cloud(
    tmp_path_factory: pytest.TempPathFactory, storage_backend: str
) -> Iterator[Cloud]:
    """One cloud whose sites homed in `us` may go to `eu` (adequacy) but not to `au` (none),
    and whose edges hand their counts on every fifth of a second."""
    root = tmp_path_factory.mktemp("transfers")
    default = resources.files("tenantry.platform").joinpath("default_topology.toml").read_text()
    config = root / "topology.toml"
    config.write_text(default.split("[transfers]")[0] + TRANSFERS)
    cloud = Cloud.start(root / "data", config=config)
    try:
        yield cloud
    finally:
        cloud.stop()


def _transfers(site: Site) -> list[dict[str, Any]]:
    listed = site.request("GET", "/rest/privacy/transfers")
    assert listed.status_code == 200, listed.text
    records: list[dict[str, Any]] = listed.json()["transfers"]
    return records


def _one(records: list[dict[str, Any]], destination: str) -> dict[str, Any]:
    found = [r for r in records if r["destination_region"] == destination]
    assert len(found) == 1, records
    return found[0]


def test_transfers_are_recorded_refused_for_none_and_shown_to_the_sites_admins_only(
    transfer_cloud: Cloud,
) -> None:
    site = signup(transfer_cloud, region="us", via="us")
    neighbour = signup(transfer_cloud, region="us", via="us")
    home = site.request("GET", "/rest/issues/projects")
    assert home.status_code == 200, home.text  # through its own region's edge: no transfer

    eu = site.via(transfer_cloud.http("eu"))
    made = eu.request("POST", "/rest/issues/projects", json={"key": "EU", "name": "Through eu"})
    assert made.status_code == 201, made.text
    assert eu.request("GET", "/rest/issues/projects/EU").status_code == 200

    au = site.via(transfer_cloud.http("au"))
    refused = au.request("POST", "/rest/issues/projects", json={"key": "AU", "name": "No"})
    assert refused.status_code == 451, refused.text
    assert refused.json()["error"] == "transfer_not_permitted"
    assert au.request("GET", "/rest/issues/projects").status_code == 451
    # Refused means not forwarded: the project was never made.
    assert site.request("GET", "/rest/issues/projects/AU").status_code == 404

    def recorded() -> bool:
        records = _transfers(site)
        volumes = {(r["destination_region"], r["outcome"]): r["volume"] for r in records}
        return volumes == {("eu", "transferred"): 2, ("au", "refused"): 2}

    eventually("the edges' counts reach privacy", recorded)
    records = _transfers(site)
    to_eu, to_au = _one(records, "eu"), _one(records, "au")
    assert {k: to_eu[k] for k in ("kind", "category", "source_region", "legal_basis")} == {
        "kind": "request",
        "category": "issues",
        "source_region": "us",
        "legal_basis": "adequacy",
    }
    assert to_eu["volume_unit"] == "requests" and len(to_eu["day"]) == 10
    assert to_eu["first_at"] <= to_eu["last_at"]
    assert (to_au["legal_basis"], to_au["source_region"]) == ("none", "us")

    # Only the site's admins see the records; another site sees nothing of them.
    _member_id, email = add_account(site)
    member = site.request(
        "GET",
        "/rest/privacy/transfers",
        headers={"Authorization": f"Bearer {token_for(site, email)}"},
    )
    assert member.status_code == 403, member.text
    assert _transfers(neighbour) == []
    # A forged flush is no call an outside client can make: the internal route is not public.
    forged = site.request("POST", "/internal/privacy/transfers", json={"records": []})
    assert forged.status_code == 404, forged.text


def test_a_move_to_another_region_is_refused_for_none_and_recorded_otherwise(
    transfer_cloud: Cloud,
) -> None:
    site = signup(transfer_cloud, region="us", via="us")
    site.create_project()
    data_dir = str(transfer_cloud.data_dir)
    refused = tenantry(
        "tenant", "move", site.name, "--region", "au", "--unpin", "--data-dir", data_dir
    )
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "transfer_not_permitted" in refused.stdout + refused.stderr
    assert site.request("GET", "/rest/issues/projects/OPS").status_code == 200  # still home

    moved = tenantry(
        "tenant",
        "move",
        site.name,
        "--region",
        "eu",
        "--unpin",
        "--data-dir",
        data_dir,
        timeout=120,
    )
    assert moved.returncode == 0, moved.stdout + moved.stderr
    at_home = site.via(transfer_cloud.http("eu"))
    (record,) = [r for r in _transfers(at_home) if r["kind"] == "move"]
    assert {k: record[k] for k in ("category", "source_region", "destination_region")} == {
        "category": "site data",
        "source_region": "us",
        "destination_region": "eu",
    }
    assert (record["legal_basis"], record["outcome"], record["volume_unit"]) == (
        "adequacy",
        "transferred",
        "rows",
    )
    assert record["volume"] >= 1
