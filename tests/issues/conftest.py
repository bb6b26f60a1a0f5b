"""An issues app on a bare FastAPI, with tenant and user taken from test-only headers.

The real service puts token checks in front; here a tiny ASGI middleware stands in for them so
the routes can be driven directly.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from backends import fresh_databases
from issues_harness import build_app
from tenantry.platform.storage import Databases
from tenantry.services.issues.models import SCHEMA


@pytest.fixture
def databases(tmp_path: Path, storage_backend: str) -> Iterator[Databases]:
    with fresh_databases(SCHEMA, tmp_path) as dbs:
        yield dbs


@pytest.fixture
def client(databases: Databases) -> Iterator[TestClient]:
    with TestClient(build_app(databases), raise_server_exceptions=False) as test_client:
        yield test_client


class As:
    """A client acting as one user of one tenant."""

    def __init__(
        self,
        client: TestClient,
        tenant: str,
        user: str | None = "alice",
        shard: str = "eu-1",
        role: str = "admin",
    ) -> None:
        self.client = client
        self.headers = {"x-test-tenant": tenant, "x-test-shard": shard, "x-test-role": role}
        if user is not None:
            self.headers["x-test-user"] = user

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.client.request(method, f"/rest/issues{path}", headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Any:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.request("DELETE", path, **kwargs)

    def project(self, key: str = "OPS", name: str = "Operations") -> dict[str, Any]:
        made = self.post("/projects", json={"key": key, "name": name})
        assert made.status_code == 201, made.text
        return dict(made.json())

    def issue(self, project: str = "OPS", summary: str = "s", **fields: Any) -> dict[str, Any]:
        body = {"project": project, "summary": summary, "description": "", **fields}
        made = self.post("/issues", json=body)
        assert made.status_code == 201, made.text
        return dict(made.json())


@pytest.fixture
def as_tenant(client: TestClient) -> Any:
    """Factory: `as_tenant("tenant-c", user="carol", shard="eu-2", role="viewer")`."""

    def make(
        tenant: str, user: str | None = "someone", shard: str = "eu-1", role: str = "admin"
    ) -> As:
        return As(client, tenant, user, shard, role)

    return make


@pytest.fixture
def alice(client: TestClient) -> As:
    return As(client, "tenant-a", "alice")


@pytest.fixture
def bob(client: TestClient) -> As:
    return As(client, "tenant-b", "bob")
