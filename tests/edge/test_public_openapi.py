"""The edge's public OpenAPI document: every public route, how each is authorised, no other."""

from __future__ import annotations

import inspect
import json
from typing import Any

from fastapi import FastAPI

from tenantry.platform.openapi import with_error_shape
from tenantry.platform.policy import normalise_pattern
from tenantry.services.edge.openapi import public_document
from tenantry.services.edge.public_routes import PublicRouteTable
from tenantry.services.registry import public_routes, spec

TABLE = PublicRouteTable(public_routes())
PUBLIC_ROUTES = TABLE.routes


def service_document(service: str) -> dict[str, Any]:
    """The document the service's own app serves, built from its routers."""
    app = FastAPI()
    for build in spec(service).routers():
        app.include_router(build(*[None] * len(inspect.signature(build).parameters)))
    return with_error_shape(app.openapi())


def merged() -> dict[str, Any]:
    return public_document(
        TABLE, {service: service_document(service) for service in TABLE.owners()}, "1"
    )


def operations(document: dict[str, Any]) -> dict[tuple[str, str], Any]:
    return {
        (method.upper(), normalise_pattern(path)): operation
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    }


def test_the_edge_asks_every_service_that_owns_a_public_route_and_no_other() -> None:
    assert set(TABLE.owners()) == {route.service for route in PUBLIC_ROUTES}
    assert len(TABLE.owners()) == len(set(TABLE.owners()))


def test_exactly_the_public_routes_and_the_edge_s_own_are_described() -> None:
    described = operations(merged())
    public = {(route.method, normalise_pattern(route.pattern)) for route in PUBLIC_ROUTES}
    assert set(described) == public | {("GET", "/_edge/tenant_info"), ("GET", "/openapi.json")}
    assert not any(path.startswith(("/internal", "/internal/media/")) for _, path in described)


def test_each_operation_says_how_it_is_authorised_and_how_it_fails() -> None:
    document = merged()
    described = operations(document)
    for route in PUBLIC_ROUTES:
        operation = described[(route.method, normalise_pattern(route.pattern))]
        headers = [p["name"] for p in operation.get("parameters", []) if p["in"] == "header"]
        if route.needs_user:
            assert operation["security"] == [{"userToken": []}]
            assert headers == ["X-Tenantry-Site"]
        else:
            assert operation["security"] == []
            assert headers == []
        if route.media_token:
            assert "token" in [p["name"] for p in operation["parameters"] if p["in"] == "query"]
        assert operation["responses"]["default"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"
        }
    text = json.dumps(document)
    assert "HTTPValidationError" not in text
    for name in document["components"]["schemas"]:
        assert f'"#/components/schemas/{name}"' in text or name == "Error"


def test_schemas_two_services_name_alike_are_kept_apart() -> None:
    documents = {service: service_document(service) for service in TABLE.owners()}
    issues_schemas = documents["issues"]["components"]["schemas"]
    media_schemas = documents["media"]["components"]["schemas"]
    # media calls its settings body what issues calls a new project: a different schema.
    media_schemas["NewProject"] = media_schemas.pop("SettingsReplace")
    text = json.dumps(documents["media"]).replace(
        '"#/components/schemas/SettingsReplace"', '"#/components/schemas/NewProject"'
    )
    documents["media"] = json.loads(text)
    schemas = public_document(TABLE, documents, "1")["components"]["schemas"]
    assert schemas["NewProject"] == issues_schemas["NewProject"]
    assert schemas["media_NewProject"] == media_schemas["NewProject"]
    put = public_document(TABLE, documents, "1")["paths"]["/rest/media/settings"]["put"]
    body = put["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/media_NewProject"}
