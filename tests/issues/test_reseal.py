"""After a data key rotation, resealing moves every sealed field to the new key, in batches."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from backends import fresh_databases
from issues_harness import (
    HeaderContextMiddleware,
    StandInAccounts,
    StandInTrashing,
    harness_cursors,
)
from tenantry.platform.context import TenantContext, require_tenant, tenant_scope
from tenantry.platform.crypto import DataKey, key_version
from tenantry.platform.data_keys import DataKeys, TenantKeys
from tenantry.platform.http_errors import install_error_handlers
from tenantry.platform.storage import Databases
from tenantry.services.issues.internal_routes import build_internal_router
from tenantry.services.issues.models import SCHEMA, Comment, Issue, Project
from tenantry.services.issues.routes import build_router


class RotatingDataKeys(DataKeys):
    """Keys without a kms whose current version a test can raise, per tenant."""

    def __init__(self) -> None:
        super().__init__(client=None)  # type: ignore[arg-type]
        self.current: dict[str, int] = {}

    async def for_tenant(self, min_version: int = 0) -> TenantKeys:
        tenant = require_tenant().cloud_id
        top = self.current.get(tenant, 1)
        keys = {
            v: DataKey(v, hashlib.sha256(f"{tenant}/{v}".encode()).digest())
            for v in range(1, top + 1)
        }
        return TenantKeys(keys[top], keys)


@pytest.fixture
def setup(
    tmp_path: Path, storage_backend: str
) -> Iterator[tuple[TestClient, Databases, RotatingDataKeys]]:
    data_keys = RotatingDataKeys()
    with fresh_databases(SCHEMA, tmp_path) as databases:
        app = FastAPI()
        install_error_handlers(app)
        app.include_router(
            build_router(
                databases, data_keys, StandInAccounts(), harness_cursors(), StandInTrashing()
            )
        )
        app.include_router(build_internal_router(databases, data_keys))
        app.add_middleware(HeaderContextMiddleware)
        with TestClient(app, raise_server_exceptions=False) as client:
            yield client, databases, data_keys


def as_(tenant: str) -> dict[str, str]:
    return {"x-test-tenant": tenant, "x-test-shard": "eu-1", "x-test-user": "u"}


def versions(databases: Databases, tenant: str) -> list[int]:
    context = TenantContext(tenant, tenant, "eu", "eu-1", "active")
    with tenant_scope(context), databases.session() as s:
        issues = s.rows(select(Issue.summary, Issue.description, Issue.labels)).all()
        bodies = s.rows(select(Comment.body)).scalars().all()
        names = s.rows(select(Project.name)).scalars().all()
    return sorted(
        [key_version(x) for row in issues for x in row]
        + [key_version(b) for b in [*bodies, *names]]
    )


def test_resealing_moves_every_field_to_the_current_key_in_resumable_batches(
    setup: tuple[TestClient, Databases, RotatingDataKeys],
) -> None:
    client, databases, data_keys = setup
    for tenant in ("tenant-a", "tenant-b"):
        made = client.post(
            "/rest/issues/projects", json={"key": "OPS", "name": "o"}, headers=as_(tenant)
        )
        assert made.status_code == 201
        for n in range(5):
            body = {"project": "OPS", "summary": f"{tenant} {n}", "description": f"d{n}"}
            assert (
                client.post("/rest/issues/issues", json=body, headers=as_(tenant)).status_code
                == 201
            )
        for n in range(3):
            comment = {"body": f"comment {n}"}
            url = "/rest/issues/issues/OPS-1/comments"
            assert client.post(url, json=comment, headers=as_(tenant)).status_code == 201
    assert versions(databases, "tenant-a") == [1] * 19

    data_keys.current["tenant-a"] = 2
    cursor: Any = None
    remaining_seen = []
    resealed = 0
    while True:
        step = client.post(
            "/internal/issues/reseal", json={"cursor": cursor, "limit": 2}, headers=as_("tenant-a")
        ).json()
        resealed += step["resealed"]
        remaining_seen.append(step["remaining"])
        assert step["current_version"] == 2
        cursor = step["next_cursor"]
        if cursor is None:
            break
        # Online: the tenant is served between batches, old and new rows alike.
        listed = client.get("/rest/issues/issues", headers=as_("tenant-a")).json()["issues"]
        assert sorted(i["summary"] for i in listed) == [f"tenant-a {n}" for n in range(5)]
    assert resealed == 9  # 1 project, 5 issues, 3 comments
    assert remaining_seen == sorted(remaining_seen, reverse=True) and remaining_seen[-1] == 0
    assert versions(databases, "tenant-a") == [2] * 19
    assert versions(databases, "tenant-b") == [1] * 19  # another tenant is not touched

    again = client.post("/internal/issues/reseal", json={"limit": 100}, headers=as_("tenant-a"))
    assert again.json()["resealed"] == 0  # starting over finds nothing left to do
    one = client.get("/rest/issues/issues/OPS-1", headers=as_("tenant-a")).json()
    assert one["summary"] == "tenant-a 0" and one["description"] == "d0"
    bodies = client.get("/rest/issues/issues/OPS-1/comments", headers=as_("tenant-a")).json()
    assert [c["body"] for c in bodies["comments"]] == ["comment 0", "comment 1", "comment 2"]


def test_reseal_refuses_bad_input(setup: tuple[TestClient, Databases, RotatingDataKeys]) -> None:
    client, _, _ = setup
    for body, code in (
        ({"cursor": "nowhere:x"}, "invalid_cursor"),
        ({"limit": 0}, "invalid_request"),
        ({"limit": 1, "extra": 1}, "invalid_request"),
    ):
        refused = client.post("/internal/issues/reseal", json=body, headers=as_("tenant-a"))
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"] == code
    no_tenant = client.post("/internal/issues/reseal", json={})
    assert no_tenant.status_code == 400
