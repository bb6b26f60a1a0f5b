"""The edge's validation chain, link by link, through a real cloud: each denial has its reason."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

import httpx
import pytest

from .api import Site, signup
from .cloud import Cloud, tenantry
from .edges import all_edges_answer

pytestmark = pytest.mark.backend_neutral


@pytest.fixture(scope="module")
def site(cloud: Cloud) -> Site:
    made = signup(cloud, region="us", prefix="chain")
    made.create_project()
    return made


def _error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == code


def test_requests_without_or_with_a_bad_user_token_are_refused(site: Site) -> None:
    headers = {"X-Tenantry-Site": site.name}
    _error(site.http.get("/rest/issues/projects", headers=headers), 401, "token_missing")
    tampered = site.token[:-4] + ("AAAA" if not site.token.endswith("AAAA") else "BBBB")
    _error(
        site.request(
            "GET", "/rest/issues/projects", headers={"Authorization": f"Bearer {tampered}"}
        ),
        401,
        "token_bad_signature",
    )
    _error(
        site.request("GET", "/rest/issues/projects", headers={"Authorization": "Bearer not.a.jwt"}),
        401,
        "token_malformed",
    )


def test_a_token_for_one_site_does_not_open_another(cloud: Cloud, site: Site) -> None:
    other = signup(cloud, region="us", prefix="chain-other")
    response = site.http.get(
        "/rest/issues/projects",
        headers={"X-Tenantry-Site": other.name, "Authorization": f"Bearer {site.token}"},
    )
    _error(response, 403, "token_wrong_site")


def test_site_header_is_required_and_checked(site: Site) -> None:
    bearer = {"Authorization": f"Bearer {site.token}"}
    _error(site.http.get("/rest/issues/projects", headers=bearer), 400, "site_required")
    _error(
        site.http.get("/rest/issues/projects", headers={**bearer, "X-Tenantry-Site": "NO!"}),
        400,
        "invalid_site",
    )
    _error(
        site.http.get("/_edge/tenant_info", headers={"X-Tenantry-Site": "no-such-site-here"}),
        404,
        "unknown_site",
    )


def test_unknown_routes_and_methods(site: Site) -> None:
    _error(site.request("GET", "/rest/nothing"), 404, "unknown_route")
    _error(site.request("PUT", "/rest/issues/projects"), 405, "method_not_allowed")


@pytest.mark.parametrize(
    "path",
    [
        "/rest/issues/../identity/accounts",
        "/rest/issues/%2e%2e/x",
        "/rest//issues/projects",
        "/rest/issues/projects%2fOPS",
        "/rest/issues/projects\\OPS",
    ],
)
def test_ambiguous_paths_are_refused(cloud: Cloud, site: Site, path: str) -> None:
    # http.client sends the path byte for byte; httpx would resolve the dot segments first.
    edge = urlsplit(cloud.edges["us"])
    connection = http.client.HTTPSConnection(
        edge.hostname or "", edge.port, context=cloud.ssl_context(), timeout=10
    )
    try:
        connection.request("GET", path, headers=site.headers())
        response = connection.getresponse()
        assert response.status == 400
        assert json.loads(response.read())["error"] == "bad_path"
    finally:
        connection.close()


def test_bad_bodies_get_a_reason_code(site: Site) -> None:
    raw = {**site.headers(), "Content-Type": "application/json"}
    malformed = site.http.post("/rest/issues/issues", content=b"{not json", headers=raw)
    assert malformed.status_code in (400, 422)
    assert malformed.json()["error"] in ("malformed_json", "invalid_request")
    too_big = site.http.post("/rest/issues/issues", content=b"x" * (1024 * 1024 + 1), headers=raw)
    _error(too_big, 413, "body_too_large")
    unknown_field = site.request(
        "POST",
        "/rest/issues/issues",
        json={"project": "OPS", "summary": "s", "description": "d", "evil": True},
    )
    _error(unknown_field, 422, "invalid_request")
    wrong_type = site.request(
        "POST", "/rest/issues/issues", json={"project": "OPS", "summary": 5, "description": "d"}
    )
    _error(wrong_type, 422, "invalid_request")
    bad_key = site.request("GET", "/rest/issues/issues/not-a-key")
    assert bad_key.status_code in (404, 422)
    not_json = site.http.post(
        "/rest/issues/issues",
        content=b"a=b",
        headers={**site.headers(), "Content-Type": "text/plain"},
    )
    _error(not_json, 415, "unsupported_media_type")
    bad_signup = site.http.post("/signup", json={"site": "x"})
    assert bad_signup.status_code == 422
    assert bad_signup.json()["error"] == "invalid_request"


def test_suspension_reaches_every_edge_within_a_second(cloud: Cloud) -> None:
    site = signup(cloud, region="eu", prefix="suspend")
    # Warm every edge's cache, so the test measures invalidation, not a first lookup.
    assert all_edges_answer(cloud, site, 200, within=10) >= 0
    suspend = tenantry("tenant", "suspend", site.name, "--data-dir", str(cloud.data_dir))
    assert suspend.returncode == 0, suspend.stderr
    all_edges_answer(cloud, site, 403, within=1.0)
    refused = site.request("GET", "/rest/issues/projects")
    assert refused.json()["error"] == "tenant_suspended"
    resume = tenantry("tenant", "resume", site.name, "--data-dir", str(cloud.data_dir))
    assert resume.returncode == 0, resume.stderr
    all_edges_answer(cloud, site, 200, within=1.0)


def test_operator_cli_refuses_unknown_sites(cloud: Cloud) -> None:
    result = tenantry("tenant", "suspend", "no-such-site-x", "--data-dir", str(cloud.data_dir))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "bEaReR"])
def test_the_bearer_scheme_is_read_in_any_case(site: Site, scheme: str) -> None:
    response = site.http.get(
        "/rest/issues/projects",
        headers={"X-Tenantry-Site": site.name, "Authorization": f"{scheme} {site.token}"},
    )
    assert response.status_code == 200, response.text


def test_two_site_headers_are_refused_even_when_they_agree(cloud: Cloud, site: Site) -> None:
    other = signup(cloud, region="us", prefix="chain-twin")
    bearer = ("Authorization", f"Bearer {site.token}")
    for second in (other.name, site.name):
        response = site.http.get(
            "/rest/issues/projects",
            headers=[bearer, ("X-Tenantry-Site", site.name), ("X-Tenantry-Site", second)],
        )
        _error(response, 400, "duplicate_header")
        assert "X-Tenantry-Site" in response.json()["message"]
    twice = site.http.get(
        "/rest/issues/projects",
        headers=[bearer, bearer, ("X-Tenantry-Site", site.name)],
    )
    _error(twice, 400, "duplicate_header")


def test_an_oversized_or_empty_token_is_explained_as_a_user_token(site: Site) -> None:
    huge = site.http.get(
        "/rest/issues/projects",
        headers={"X-Tenantry-Site": site.name, "Authorization": "Bearer " + "a" * 9 * 1024},
    )
    _error(huge, 401, "token_malformed")
    message = huge.json()["message"]
    assert "user token" in message
    assert "service" not in message
    empty = site.http.get(
        "/rest/issues/projects",
        headers={"X-Tenantry-Site": site.name, "Authorization": "Bearer"},
    )
    _error(empty, 401, "token_missing")
    assert "service" not in empty.json()["message"]
