"""kms in a real `tenantry up`: one process per region, its root keys listed and rotated by the CLI.

The data-key calls are made the way a service makes them: signed with that service's key from the
data directory, carrying the tenant context tcs signed for the site.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from e2e.api import signup
from e2e.cloud import Cloud
from e2e.service_calls import call_as, data_key, tenant_context
from tenantry.cli.keys import keys_app
from tenantry.platform.topology import load_topology

pytestmark = pytest.mark.e2e

REGIONS = set(load_topology(None).regions)


def keys_cli(cloud: Cloud, *args: str) -> Any:
    result = CliRunner().invoke(
        keys_app, [*args, "--data-dir", str(cloud.data_dir)], env={"COLUMNS": "400"}
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def test_every_region_runs_its_own_kms(cloud: Cloud) -> None:
    kms = cloud.directory()["services"]["kms"]
    assert set(kms) == REGIONS
    assert len({cloud.process_of("kms", region) for region in REGIONS}) == len(REGIONS)
    with httpx.Client(verify=cloud.ssl_context(), timeout=5.0, trust_env=False) as client:
        for region, url in kms.items():
            health = client.get(f"{url}/_health")
            assert health.json() == {"status": "ok", "service": "kms", "region": region}


def test_keys_list_shows_each_regions_first_root_key(cloud: Cloud) -> None:
    result = keys_cli(cloud, "list")
    assert result.exit_code == 0, result.output
    for region in REGIONS:
        assert f"local:root-{region}-v1" in result.output
    assert result.output.count("active") == len(REGIONS)
    # The root keys themselves live under the data directory, one private store per region.
    for region in REGIONS:
        store = cloud.data_dir / "kms" / region
        assert (store / "root-keys.json").is_file()
        assert store.stat().st_mode & 0o077 == 0


def test_a_tenant_key_survives_a_root_rotation_made_with_the_cli(cloud: Cloud) -> None:
    site = signup(cloud, region="eu", via="eu", prefix="kms")
    first = data_key(cloud, site)
    assert first.status == 200, first.body
    assert first.headers["cache-control"] == "no-store"
    assert len(base64.b64decode(first.json()["key"])) == 32

    owner = site.request("GET", "/rest/identity/me").json()["account_id"]
    rotated = keys_cli(cloud, "rotate", "--region", "eu", "--owner", owner, "--site", site.name)
    assert rotated.exit_code == 0, rotated.output
    # Other tests on this shared cloud rotate root keys too: read which version this one made.
    made = re.search(r"eu: root key version (\d+)", rotated.output)
    assert made is not None, rotated.output
    assert int(made.group(1)) >= 2

    assert data_key(cloud, site).json() == first.json()
    listed = keys_cli(cloud, "list")
    assert f"local:root-eu-v{made.group(1)}" in listed.output and owner in listed.output
    assert "retired" in listed.output


def test_kms_refuses_other_callers_and_other_regions_tenants(cloud: Cloud) -> None:
    site = signup(cloud, region="eu", via="eu", prefix="kms")
    as_edge = data_key(cloud, site, caller="edge")
    assert as_edge.status == 403
    assert as_edge.json()["error"] == "route_not_allowed"
    elsewhere = data_key(cloud, site, region="us")
    assert elsewhere.status == 403
    assert elsewhere.json()["error"] == "wrong_region"
    no_tenant = call_as(cloud, "issues", "kms", "GET", "/internal/kms/data-key", region="eu")
    assert no_tenant.status == 400
    assert no_tenant.json()["error"] == "tenant_required"
    # The email index is identity's: issues (which keeps an index of its own) may not have its
    # key, and media (which keeps none) may not ask for index keys at all.
    for caller, refusal in (
        ("issues", "index_purpose_not_allowed"),
        ("media", "route_not_allowed"),
    ):
        index_key = call_as(
            cloud,
            caller,
            "kms",
            "GET",
            "/internal/kms/index-key/{purpose}",
            params={"purpose": b"tenantry accounts email index".hex()},
            region="eu",
            tenant_context=tenant_context(cloud, site),
            tenant_id=site.cloud_id,
        )
        assert index_key.status == 403, (caller, index_key.body)
        assert index_key.json()["error"] == refusal


def test_keys_rotate_refuses_an_unknown_region(cloud: Cloud) -> None:
    result = keys_cli(cloud, "rotate", "--region", "mars")
    assert result.exit_code == 2
    assert "no region 'mars'" in result.output


def test_keys_without_a_running_cloud_says_so(tmp_path: Path) -> None:
    (tmp_path / "stopped" / "run").mkdir(parents=True)
    result = CliRunner().invoke(keys_app, ["list", "--data-dir", str(tmp_path / "stopped")])
    assert result.exit_code == 2
    assert "no running cloud" in result.output
    result = CliRunner().invoke(keys_app, ["list", "--data-dir", str(tmp_path / "nowhere")])
    assert result.exit_code == 2
    assert "no tenantry data directory" in result.output


def test_every_blind_index_purpose_is_its_own_service_s_alone() -> None:
    from tenantry.services.identity.accounts import EMAIL_INDEX_PURPOSE
    from tenantry.services.issues.sealed_fields import LABEL_INDEX
    from tenantry.services.kms.index_purposes import PURPOSES_BY_CALLER, may_have
    from tenantry.services.pages.search_terms import SEARCH_PURPOSE

    owned = {"identity": EMAIL_INDEX_PURPOSE, "issues": LABEL_INDEX, "pages": SEARCH_PURPOSE}
    assert {caller: {purpose} for caller, purpose in owned.items()} == dict(PURPOSES_BY_CALLER)
    for caller, purpose in owned.items():
        assert may_have(caller, purpose)
        assert not any(may_have(other, purpose) for other in owned if other != caller)
    assert not may_have(None, EMAIL_INDEX_PURPOSE)
