"""`GET /openapi.json` through any edge describes the public API, and fuzzing it breaks nothing.

The schemathesis run goes through a real edge (TLS, the cloud's CA) as a signed-in admin of a
site of its own, a bounded number of examples per operation: whatever it sends, the answer is
below 500 and, for a failure, the JSON error shape.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode

from tenantry.platform.policy import normalise_pattern
from tenantry.services.edge.normalise import METHODS
from tenantry.services.registry import public_routes

from .api import Site, signup
from .cloud import Cloud

PUBLIC_ROUTES = public_routes()

EXAMPLES_PER_OPERATION = 15


@pytest.fixture(scope="module")
def public_document(cloud: Cloud) -> dict[str, Any]:
    answer = cloud.http("us").get("/openapi.json")
    assert answer.status_code == 200, answer.text
    document: dict[str, Any] = answer.json()
    return document


@pytest.fixture(scope="module")
def public_schema(public_document: dict[str, Any]) -> Any:
    return schemathesis.openapi.from_dict(public_document)


@pytest.fixture(scope="module")
def fuzzed_site(cloud: Cloud) -> Site:
    site = signup(cloud, region="us", prefix="fuzz")
    site.create_project()
    site.create_issue("Disk full", "on db-1")
    return site


def test_every_edge_serves_the_same_document_of_every_public_route(
    cloud: Cloud, public_document: dict[str, Any]
) -> None:
    described = {
        (method.upper(), normalise_pattern(path))
        for path, operations in public_document["paths"].items()
        for method in operations
    }
    for route in PUBLIC_ROUTES:
        assert (route.method, normalise_pattern(route.pattern)) in described, route
    assert {("POST", "/signup"), ("GET", "/_edge/tenant_info"), ("GET", "/openapi.json")} <= (
        described
    )
    assert {method for method, _ in described} <= METHODS
    for region in cloud.edges:
        assert cloud.http(region).get("/openapi.json").json() == public_document


PUBLIC_OPERATIONS = [
    *((route.method, route.pattern) for route in PUBLIC_ROUTES),
    ("GET", "/_edge/tenant_info"),
    ("GET", "/openapi.json"),
]


def _operation(schema: Any, document: dict[str, Any], method: str, pattern: str) -> Any:
    """The schemathesis operation for a public route (the document names its parameters)."""
    for path in document["paths"]:
        if normalise_pattern(path) == normalise_pattern(pattern):
            return schema[path][method]
    raise AssertionError(f"{method} {pattern} is not in the public document")


@pytest.mark.parametrize(
    ("method", "pattern"), PUBLIC_OPERATIONS, ids=[f"{m} {p}" for m, p in PUBLIC_OPERATIONS]
)
def test_no_input_through_the_edge_makes_it_fail(
    cloud: Cloud,
    fuzzed_site: Site,
    public_schema: Any,
    public_document: dict[str, Any],
    method: str,
    pattern: str,
) -> None:
    operation = _operation(public_schema, public_document, method, pattern)

    cases = operation.as_strategy(GenerationMode.POSITIVE) | operation.as_strategy(
        GenerationMode.NEGATIVE
    )

    @given(case=cases)
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        phases=(Phase.explicit, Phase.generate),  # a failure is reported as found, unshrunk
        suppress_health_check=list(HealthCheck),
    )
    def answers_cleanly(case: schemathesis.Case) -> None:
        response = case.call(
            base_url=cloud.edges["us"], headers=fuzzed_site.headers(), verify=cloud.ca, timeout=30
        )
        case.validate_response(response, checks=[not_a_server_error])
        if response.status_code >= 400:
            assert response.headers["content-type"] == ["application/json"], response.text
            body = response.json()
            assert set(body) == {"error", "message"}, body

    answers_cleanly()
