"""`GET /openapi.json` at any edge: the public API, described by the services that serve it.

Each service that owns public routes already describes its own routes (FastAPI builds the
document from the code). The edge asks those services for their documents over allowlisted
calls, keeps only the operations in its public route table, says how each is authorised (a
user token and the site header, a media token, or nothing), adds its own routes and the error
shape, and keeps the result: the services' code does not change while the edge runs.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Mapping
from importlib.metadata import version
from typing import Any

from tenantry.platform.client import ServiceClient
from tenantry.platform.errors import ApiError
from tenantry.platform.openapi import ERROR_SCHEMA, ERROR_SCHEMA_NAME, error_response
from tenantry.platform.policy import normalise_pattern
from tenantry.services.edge.normalise import SITE_PATTERN
from tenantry.services.edge.public_routes import PUBLIC_ROUTES, PublicRoute

OPENAPI_PATH = "/openapi.json"
BEARER_SCHEME = "userToken"
_SCHEMA_REF = "#/components/schemas/"

SITE_HEADER_PARAMETER: dict[str, Any] = {
    "name": "X-Tenantry-Site",
    "in": "header",
    "required": True,
    "description": "The site the request acts on (sign-up gave its name).",
    "schema": {"type": "string", "pattern": SITE_PATTERN},
}
EDGE_OPERATIONS: dict[str, dict[str, Any]] = {
    "/_edge/tenant_info": {
        "get": {
            "operationId": "tenant_info",
            "summary": "Where a site lives: its cloud id and home region",
            "parameters": [SITE_HEADER_PARAMETER],
            "responses": {
                "200": {
                    "description": "The site's cloud id and region",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "cloud_id": {"type": "string"},
                                    "region": {"type": "string"},
                                },
                                "required": ["cloud_id", "region"],
                            }
                        }
                    },
                },
            },
        }
    },
    OPENAPI_PATH: {
        "get": {
            "operationId": "public_openapi",
            "summary": "This document",
            "responses": {
                "200": {
                    "description": "The public API as OpenAPI 3.1",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
        }
    },
}


def public_document(services: Mapping[str, dict[str, Any]], version: str) -> dict[str, Any]:
    """The public API from each owning service's own document (keyed by service name)."""
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {ERROR_SCHEMA_NAME: ERROR_SCHEMA}
    renames = {
        service: _schema_names(document, service, schemas) for service, document in services.items()
    }
    for route in PUBLIC_ROUTES:
        document = services[route.service]
        found = _operation(document, route)
        if found is None:
            raise ApiError(
                502,
                "openapi_incomplete",
                f"{route.service} does not describe {route.method} {route.pattern}",
            )
        path, operation = found
        operation = _renamed(copy.deepcopy(operation), renames[route.service])
        paths.setdefault(path, {})[route.method.lower()] = _authorised(operation, route)
    for path, operations in EDGE_OPERATIONS.items():
        for method, operation in operations.items():
            operation = copy.deepcopy(operation)
            operation["responses"]["default"] = error_response("Any failure")
            paths.setdefault(path, {})[method] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "tenantry public API",
            "version": version,
            "description": (
                'Every failure answers `{"error": reason_code, "message": text}`. '
                "Links in answers (`preview_url`, `download_url`) are paths relative to the "
                "edge that gave them; any edge serves them."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": _used(schemas, paths),
            "securitySchemes": {
                BEARER_SCHEME: {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "The token `POST /login` answers with.",
                }
            },
        },
    }


def _operation(document: Mapping[str, Any], route: PublicRoute) -> tuple[str, Any] | None:
    """The service's path (its own parameter names) and operation for `route`."""
    wanted = normalise_pattern(route.pattern)
    for path, operations in document.get("paths", {}).items():
        if normalise_pattern(path) == wanted and route.method.lower() in operations:
            return path, operations[route.method.lower()]
    return None


def _authorised(operation: dict[str, Any], route: PublicRoute) -> dict[str, Any]:
    """Say how the edge authorises `route`: user token and site header, media token, or none."""
    if route.needs_user:
        operation["security"] = [{BEARER_SCHEME: []}]
        operation["parameters"] = [SITE_HEADER_PARAMETER, *operation.get("parameters", [])]
    elif route.media_token:
        operation["security"] = []
        operation.setdefault("description", "")
        operation["description"] += "\n\nAuthorised by the media token in `?token=`."
    else:
        operation["security"] = []
    return operation


def _schema_names(
    document: Mapping[str, Any], service: str, merged: dict[str, Any]
) -> dict[str, str]:
    """Add a service's schemas to `merged`; the new name of each that clashed with another's."""
    own = document.get("components", {}).get("schemas", {})
    renames = {
        name: f"{service}_{name}"
        for name, schema in own.items()
        if name in merged and merged[name] != schema
    }
    for name, schema in own.items():
        merged[renames.get(name, name)] = _renamed(copy.deepcopy(schema), renames)
    return renames


def _used(schemas: Mapping[str, Any], paths: Any) -> dict[str, Any]:
    """The schemas `paths` refer to, directly or through other schemas (not internal ones)."""
    used: set[str] = set()
    waiting = [paths]
    while waiting:
        text = json.dumps(waiting.pop())
        for name in schemas:
            if name not in used and f'"{_SCHEMA_REF}{name}"' in text:
                used.add(name)
                waiting.append(schemas[name])
    return {name: schema for name, schema in schemas.items() if name in used}


def _renamed(node: Any, renames: Mapping[str, str]) -> Any:
    """`node` with every `$ref` to a renamed schema pointing at its new name."""
    if not renames:
        return node
    text = json.dumps(node)
    for old, new in renames.items():
        text = text.replace(f'"{_SCHEMA_REF}{old}"', f'"{_SCHEMA_REF}{new}"')
    return json.loads(text)


class PublicOpenApi:
    """The merged document, made at the first request and kept for the life of the edge.

    `FETCHED_FROM` must name every service that owns a public route (a test checks it).
    """

    FETCHED_FROM = ("identity", "issues", "pages", "analytics", "media", "audit", "privacy")

    def __init__(self, client: ServiceClient, region: str) -> None:
        self._client = client
        self._region = region
        self._document: dict[str, Any] | None = None
        self._lock = asyncio.Lock()

    async def document(self) -> dict[str, Any]:
        """The public OpenAPI document (made once; a failure to make it is not kept)."""
        async with self._lock:
            if self._document is None:
                self._document = public_document(await self._fetch(), version("tenantry"))
            return self._document

    async def _fetch(self) -> dict[str, dict[str, Any]]:
        """Each owning service's own document; the regional ones from this edge's region."""
        identity = await self._client.call("identity", "GET", "/openapi.json")
        issues = await self._client.call("issues", "GET", "/openapi.json", region=self._region)
        pages = await self._client.call("pages", "GET", "/openapi.json", region=self._region)
        analytics = await self._client.call(
            "analytics", "GET", "/openapi.json", region=self._region
        )
        media = await self._client.call("media", "GET", "/openapi.json", region=self._region)
        audit = await self._client.call("audit", "GET", "/openapi.json", region=self._region)
        privacy = await self._client.call("privacy", "GET", "/openapi.json", region=self._region)
        answers = {
            "identity": identity,
            "issues": issues,
            "pages": pages,
            "analytics": analytics,
            "media": media,
            "audit": audit,
            "privacy": privacy,
        }
        documents = {}
        for service, answer in answers.items():
            if answer.status != 200:
                raise ApiError(503, "openapi_unavailable", f"{service} did not describe its routes")
            documents[service] = answer.json()
        return documents
