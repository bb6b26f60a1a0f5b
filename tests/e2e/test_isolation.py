"""Two tenants on one shard: nothing one does ever reaches or reveals the other's issues, in
both layouts (services calling each other in process, and each in a process of its own)."""

from __future__ import annotations

import httpx
import pytest

from .api import Site, signup
from .cloud import Cloud


def _same_shard_pair(cloud: Cloud) -> tuple[Site, Site]:
    """Sign up sites in one region until two land on the same shard (placement alternates)."""
    sites: dict[str, Site] = {}
    for _ in range(6):
        site = signup(cloud, region="au", prefix="iso")
        shard = _shard_of(cloud, site)
        if shard in sites:
            return sites[shard], site
        sites[shard] = site
    raise AssertionError("no two sites landed on one shard")


def _shard_of(cloud: Cloud, site: Site) -> str:
    import httpx
    import jwt

    from tenantry.platform.service_keys import load_service_key
    from tenantry.platform.tokens import TokenSigner

    tcs = cloud.directory()["services"]["tcs"]["global"]
    token = TokenSigner(load_service_key(cloud.data_dir, "edge")).sign("tcs")
    with httpx.Client(verify=cloud.ssl_context(), trust_env=False) as http:
        found = http.get(
            f"{tcs}/internal/tcs/tenants/by-site/{site.name}",
            headers={"Authorization": f"Bearer {token}"},
        )
    context = jwt.decode(found.json()["context"], options={"verify_signature": False})
    return str(context["tenant"]["shard"])


@pytest.fixture(scope="module")
def pair(each_layout: Cloud) -> tuple[Site, Site, dict[str, str]]:
    alice, bob = _same_shard_pair(each_layout)
    for site in (alice, bob):
        site.create_project()
    return alice, bob, alice.create_issue("alice secret", "only alice")


def test_the_other_tenant_cannot_read_change_or_delete_by_key_or_id(
    pair: tuple[Site, Site, dict[str, str]],
) -> None:
    alice, bob, issue = pair
    for ref in (issue["key"], issue["id"]):
        path = f"/rest/issues/issues/{ref}"
        assert bob.request("GET", path).status_code == 404
        assert bob.request("PATCH", path, json={"summary": "pwned"}).status_code == 404
        assert bob.request("PATCH", path, json={"status": "In Progress"}).status_code == 404
        assert bob.request("POST", f"{path}/comments", json={"body": "hi"}).status_code == 404
        assert bob.request("GET", f"{path}/comments").status_code == 404
        assert bob.request("DELETE", path).status_code == 404
    still = alice.request("GET", f"/rest/issues/issues/{issue['key']}")
    assert still.status_code == 200
    assert still.json()["summary"] == "alice secret"
    assert still.json()["status"] == "To Do"


def test_no_listing_shows_the_other_tenants_issues(
    pair: tuple[Site, Site, dict[str, str]],
) -> None:
    alice, bob, _ = pair
    listed = bob.request("GET", "/rest/issues/issues", params={"project": "OPS"})
    assert listed.status_code == 200
    assert listed.json()["issues"] == []
    for params in ({}, {"status": "To Do"}, {"project": "OPS", "limit": "100"}):
        body = bob.request("GET", "/rest/issues/issues", params=params).text
        assert "alice secret" not in body
    assert (
        "alice secret"
        in alice.request("GET", "/rest/issues/issues", params={"project": "OPS"}).text
    )


def test_the_other_tenants_issue_key_numbering_is_its_own(
    pair: tuple[Site, Site, dict[str, str]],
) -> None:
    _, bob, issue = pair
    created = bob.create_issue("bob's")
    assert created["key"] == "OPS-1"
    assert created["id"] != issue["id"]


def test_a_service_listener_refuses_a_call_without_a_token(
    each_layout: Cloud, pair: tuple[Site, Site, dict[str, str]]
) -> None:
    """Where services share a process they call each other without tokens; from the network,
    the same listener still takes nothing without one."""
    alice, _, issue = pair
    issues = each_layout.directory()["services"]["issues"][alice.region]
    with httpx.Client(verify=each_layout.ssl_context(), trust_env=False) as http:
        answer = http.get(f"{issues}/rest/issues/issues/{issue['key']}")
    assert answer.status_code == 401
    assert answer.json()["error"] == "token_missing"
