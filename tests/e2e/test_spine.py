"""The whole spine through a real `tenantry up` over TLS: sign-up to comments, in two regions."""

from __future__ import annotations

import json
import time

import httpx

from backends import BACKEND

from .api import PASSWORD, Site, signup, work_on_issues
from .cloud import Cloud


def test_signup_places_sites_by_their_users_and_serves_them_in_their_region(cloud: Cloud) -> None:
    # The cloud stores its data on this run's backend: files, or PostgreSQL and no files.
    assert (cloud.data_dir / "global" / "tcs.sqlite").exists() == (BACKEND == "sqlite")
    europe = signup(cloud, users={"DE": 40, "US": 3}, via="us", prefix="eu")
    pinned = signup(cloud, region="au", via="eu", prefix="au")
    assert europe.region == "eu"
    assert pinned.region == "au"
    for site in (europe, pinned):
        info = cloud.http("us").get("/_edge/tenant_info", headers={"X-Tenantry-Site": site.name})
        assert info.status_code == 200
        assert info.json() == {"cloud_id": site.cloud_id, "region": site.region}


def test_issue_lifecycle_through_the_home_edge_and_another_regions_edge(cloud: Cloud) -> None:
    home = signup(cloud, region="eu", via="eu", prefix="home")
    work_on_issues(home)
    # The same tenant through the us and au edges reaches the same rows in eu.
    for region in ("us", "au"):
        other_edge = home.via(cloud.http(region))
        read = other_edge.request("GET", "/rest/issues/issues/OPS-1")
        assert read.status_code == 200, read.text
        assert read.json()["status"] == "Done"
    away = signup(cloud, region="us", via="au", prefix="away")
    work_on_issues(away.via(cloud.http("eu")))


def test_login_with_a_wrong_password_is_refused(cloud: Cloud) -> None:
    site = signup(cloud, region="us")
    email = f"admin@{site.name}.test"
    wrong = site.http.post("/login", json={"site": site.name, "email": email, "password": "nope"})
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_credentials"
    unknown = site.http.post(
        "/login", json={"site": site.name, "email": "ghost@x.test", "password": PASSWORD}
    )
    assert unknown.status_code == 401


def test_a_taken_site_name_is_a_conflict(cloud: Cloud) -> None:
    site = signup(cloud, region="us")
    again = cloud.http("eu").post(
        "/signup",
        json={"site": site.name, "email": "x@y.test", "password": PASSWORD, "region": "eu"},
    )
    assert again.status_code == 409
    assert again.json()["error"] == "site_taken"


def test_every_edge_response_carries_security_headers(cloud: Cloud) -> None:
    site = signup(cloud, region="us")
    for response in (
        site.request("GET", "/rest/issues/projects"),
        cloud.http("eu").get("/nowhere"),
    ):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert "max-age" in response.headers["strict-transport-security"]
        assert response.headers["cache-control"] == "no-store"


def test_logs_are_json_with_request_and_tenant_ids_and_no_personal_data(cloud: Cloud) -> None:
    site = signup(cloud, region="au", prefix="logs")
    secret_summary = "salary review for jane.doe"
    site.create_project("HR", "People")
    created = site.request(
        "POST",
        "/rest/issues/issues",
        json={"project": "HR", "summary": secret_summary, "description": "private"},
    )
    assert created.status_code == 201
    request_id = created.headers["x-request-id"]
    # A service may write its access record just after the response left: read until both are in.
    deadline = time.monotonic() + 30
    while not (seen_in := _logs_naming(cloud, site, request_id, secret_summary)) >= EXPECTED_LOGS:
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
    # The same request id is logged by the edge and by the issues service it reached.
    assert seen_in >= EXPECTED_LOGS, seen_in


EXPECTED_LOGS = {"edge-us.log", "issues-au.log"}


def _logs_naming(cloud: Cloud, site: Site, request_id: str, secret: str) -> set[str]:
    """The logs with a record of `request_id`, each checked to be JSON and free of personal data."""
    seen_in: set[str] = set()
    for log in (cloud.data_dir / "logs").glob("*.log"):
        text = log.read_text()
        for forbidden in (f"admin@{site.name}.test", PASSWORD, secret):
            assert forbidden not in text, f"{forbidden!r} leaked into {log.name}"
        # What follows the last newline is a record still being written: not read yet.
        for line in text.split("\n")[:-1]:
            if not line.startswith("{"):
                continue  # a library warning, not one of our records
            record = json.loads(line)
            if record.get("request_id") == request_id:
                assert record.get("tenant_id") == site.cloud_id, record
                seen_in.add(log.name)
    return seen_in


def test_services_expose_readiness_and_prometheus_metrics(cloud: Cloud) -> None:
    site = signup(cloud, region="us", prefix="metrics")
    assert site.request("GET", "/rest/issues/projects").status_code == 200
    services = cloud.directory()["services"]
    with httpx.Client(verify=cloud.ssl_context(), trust_env=False) as http:
        for service in ("identity", "tcs", "issues"):
            for url in services[service].values():
                assert http.get(f"{url}/_ready").json() == {"status": "ready"}
        metrics = http.get(services["issues"]["us"] + "/_metrics")
    assert metrics.status_code == 200
    assert 'tenantry_requests_total{method="GET",service="issues",status="200"}' in metrics.text
    assert "tenantry_request_seconds_bucket" in metrics.text
    # The metrics carry no tenant or user: only service, method and status.
    assert site.cloud_id not in metrics.text
