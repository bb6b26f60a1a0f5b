"""A tenant flooding the edge is cut off with 429; its neighbours on the shard are not."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources

import pytest

from .api import PASSWORD, add_account, signup
from .cloud import Cloud

pytestmark = pytest.mark.backend_neutral

CLIENT_LIMIT = 40
ADDRESS_LOGIN_FAILURES = 3
TIGHT_LIMITS = f"""
[edge.limits]
per_tenant = "15/minute"
per_client_ip = "{CLIENT_LIMIT}/minute"
login_failures_per_client_ip = "{ADDRESS_LOGIN_FAILURES}/minute"
"""


@pytest.fixture(scope="module")
def tight_cloud(tmp_path_factory: pytest.TempPathFactory, storage_backend: str) -> Iterator[Cloud]:
    root = tmp_path_factory.mktemp("tight")
    default = resources.files("tenantry.platform").joinpath("default_topology.toml").read_text()
    config = root / "topology.toml"
    config.write_text(default.split("[edge.limits]")[0] + TIGHT_LIMITS)
    cloud = Cloud.start(root / "data", config=config)
    try:
        yield cloud
    finally:
        cloud.stop()


@pytest.fixture(scope="module")
def probe_site(tight_cloud: Cloud) -> str:
    """A site signed up (and logged in) before any test spends this address's budgets."""
    return signup(tight_cloud, region="eu", prefix="probe").name


def test_a_flooding_tenant_gets_429_and_its_neighbour_is_served(
    tight_cloud: Cloud, probe_site: str
) -> None:
    noisy = signup(tight_cloud, region="us", prefix="noisy")
    quiet = signup(tight_cloud, region="us", prefix="quiet")
    statuses = [noisy.request("GET", "/rest/issues/projects").status_code for _ in range(20)]
    assert statuses[:10] == [200] * 10
    assert statuses[-1] == 429
    refused = noisy.request("GET", "/rest/issues/projects")
    assert refused.json()["error"] == "rate_limited"
    assert int(refused.headers["retry-after"]) >= 1
    assert quiet.request("GET", "/rest/issues/projects").status_code == 200


def test_an_address_guessing_many_accounts_is_throttled(tight_cloud: Cloud) -> None:
    """Each account fails once only, yet the address that tries them all has to wait.

    Runs before the last test: from here on this address's logins wait a minute.
    """
    site = signup(tight_cloud, region="us", prefix="spray")
    emails = [add_account(site)[1] for _ in range(ADDRESS_LOGIN_FAILURES + 1)]
    for email in emails[:ADDRESS_LOGIN_FAILURES]:
        wrong = site.http.post(
            "/login", json={"site": site.name, "email": email, "password": "a guess, wrong"}
        )
        assert wrong.status_code == 401, wrong.text
    fresh = site.http.post(
        "/login",
        json={"site": site.name, "email": emails[-1], "password": PASSWORD},
        headers={"X-Forwarded-For": "203.0.113.7"},  # never believed: the peer is counted
    )
    assert fresh.status_code == 429, fresh.text
    assert fresh.json()["error"] == "login_throttled"
    assert int(fresh.headers["retry-after"]) >= 1
    # Requests with a token are not logins: the address's users carry on.
    assert site.request("GET", "/rest/issues/projects").status_code == 200


def test_anonymous_calls_count_against_the_peer_whatever_it_forwards(
    tight_cloud: Cloud, probe_site: str
) -> None:
    """Runs last in this module: it spends this address's whole per-client budget.

    A caller naming a new address in X-Forwarded-For on every request is still one client, and
    `/_edge/tenant_info`, which needs no token, is counted too, so sites cannot be enumerated.
    """
    site = probe_site
    statuses = []
    for number in range(CLIENT_LIMIT + 5):
        response = tight_cloud.http("us").get(
            "/_edge/tenant_info",
            headers={"X-Tenantry-Site": site, "X-Forwarded-For": f"198.51.100.{number % 250}"},
        )
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert response.json()["error"] == "rate_limited"
            break
    assert statuses[0] == 200
    assert statuses[-1] == 429
    assert len(statuses) <= CLIENT_LIMIT
    login = tight_cloud.http("us").post(
        "/login",
        json={"site": site, "email": "x@probe.test", "password": "wrong-password-1"},
        headers={"X-Forwarded-For": "203.0.113.9"},
    )
    assert login.status_code == 429
