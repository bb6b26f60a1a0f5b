"""Property-based fuzzing of the issues API from its own OpenAPI document (schemathesis).

Whatever a caller sends, the service answers with a status below 500 and, for errors, the
tenantry error shape. The tenant and user come from the test stand-in for the auth layer.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from issues_harness import build_app
from tenantry.platform.storage import Databases, SqliteBackend
from tenantry.services.issues.models import SCHEMA

_data = Path(tempfile.mkdtemp(prefix="tenantry-fuzz-"))
app = build_app(Databases(SCHEMA, SqliteBackend(_data)))
schema = schemathesis.openapi.from_asgi("/openapi.json", app)
HEADERS = {"x-test-tenant": "fuzz-tenant", "x-test-user": "fuzzer"}


@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_input_makes_the_issues_service_fail(case: schemathesis.Case) -> None:
    response = case.call(headers=HEADERS)
    case.validate_response(response, checks=(not_a_server_error,))
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error", "message"}, body
