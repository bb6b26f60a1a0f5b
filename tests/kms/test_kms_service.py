"""The kms routes on a bare FastAPI: tenants' data keys, root rotation, and what never leaks.

A small ASGI middleware stands in for the platform's token and tenant-context checks, taking the
tenant from test-only headers, so the routes can be driven directly.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, update
from structlog.testing import capture_logs

from backends import fresh_databases
from tenantry.platform.context import tenant_scope
from tenantry.platform.storage import Databases, SqliteBackend
from tenantry.services.kms.models import SCHEMA, WrappedDataKey
from tenantry.services.kms.providers import LocalKeyProvider

from .service_app import (
    REGION,
    ROOT_V1,
    SHARDS,
    as_tenant,
    build_app,
    context,
    data_key,
    key_of,
    stored_rows,
)


class GatedProvider(LocalKeyProvider):
    """Holds every wrap until `parties` wraps are under way, so first requests truly overlap."""

    def __init__(self, directory: Path, parties: int) -> None:
        super().__init__(directory)
        self.barrier = threading.Barrier(parties)

    def wrap(self, key_ref: str, plaintext: bytes, context: Mapping[str, str]) -> bytes:
        self.barrier.wait(timeout=30)
        return super().wrap(key_ref, plaintext, context)


def test_the_first_request_makes_version_1_and_every_later_one_returns_it(
    client: TestClient, databases: Databases
) -> None:
    first = data_key(client, "tenant-a")
    assert first.status_code == 200, first.text
    body = first.json()
    assert set(body) == {"version", "key", "max_age"}
    assert body["version"] == 1 and body["max_age"] == 300
    assert len(base64.b64decode(body["key"], validate=True)) == 32

    again = data_key(client, "tenant-a")
    by_version = data_key(client, "tenant-a", version=1)
    assert again.json() == body
    assert by_version.json() == body
    [row] = stored_rows(databases, "tenant-a")
    assert (row.version, row.root_key_ref, row.root_version, row.state) == (
        1,
        ROOT_V1,
        1,
        "active",
    )
    assert base64.b64decode(body["key"]) not in row.wrapped


def test_every_answer_forbids_caching_errors_included(client: TestClient) -> None:
    answers = [
        data_key(client, "tenant-a"),
        data_key(client, "tenant-a", version=1),
        data_key(client, "tenant-a", version=7),
        client.get("/internal/kms/data-key"),
        client.get("/internal/kms/root-keys"),
        client.post("/internal/kms/root-key/rotate", json={"owner": None}),
    ]
    assert [a.status_code for a in answers] == [200, 200, 404, 400, 200, 200]
    assert all(a.headers["cache-control"] == "no-store" for a in answers)


def test_tenants_get_their_own_keys_and_never_each_others(client: TestClient) -> None:
    key_a = key_of(client, "tenant-a")
    key_b = key_of(client, "tenant-b", "eu-2")
    key_c = key_of(client, "tenant-c")  # same shard as tenant-a
    assert len({key_a, key_b, key_c}) == 3

    missing = data_key(client, "tenant-a", version=2)
    assert missing.status_code == 404
    assert missing.json()["error"] == "data_key_not_found"
    # tenant-b's version 1 is tenant-b's own, whichever tenant asked first.
    assert base64.b64decode(data_key(client, "tenant-b", "eu-2", 1).json()["key"]) == key_b


def test_a_request_without_a_tenant_or_from_another_region_is_refused(
    client: TestClient,
) -> None:
    anonymous = client.get("/internal/kms/data-key")
    assert anonymous.status_code == 400
    assert anonymous.json()["error"] == "tenant_required"
    for headers in (as_tenant("tenant-us", "us-1", "us"), as_tenant("tenant-x", "us-1")):
        foreign = client.get("/internal/kms/data-key", headers=headers)
        assert foreign.status_code == 403, foreign.text
        assert foreign.json()["error"] == "wrong_region"


@pytest.mark.parametrize("version", ["0", "-1", "abc", "4294967296"])
def test_a_malformed_version_is_refused(client: TestClient, version: str) -> None:
    answer = client.get(f"/internal/kms/data-key/{version}", headers=as_tenant("tenant-a"))
    assert answer.status_code == 422
    assert answer.json()["error"] == "invalid_request"


def test_concurrent_first_requests_all_get_the_one_stored_key(
    databases: Databases, tmp_path: Path
) -> None:
    parties = 4
    provider = GatedProvider(tmp_path / "kms" / REGION, parties)
    with (
        TestClient(build_app(databases, provider), raise_server_exceptions=False) as client,
        ThreadPoolExecutor(parties) as pool,
    ):
        answers = list(pool.map(lambda _: data_key(client, "tenant-a"), range(parties)))
    assert [a.status_code for a in answers] == [200] * parties, [a.text for a in answers]
    assert len({a.json()["key"] for a in answers}) == 1
    assert [row.version for row in stored_rows(databases, "tenant-a")] == [1]


def test_rotation_rewraps_every_tenants_keys_without_changing_them(
    client: TestClient, databases: Databases, provider: LocalKeyProvider
) -> None:
    tenants = [("tenant-a", "eu-1"), ("tenant-b", "eu-2"), ("tenant-c", "eu-1")]
    keys = {tenant: key_of(client, tenant, shard) for tenant, shard in tenants}
    wrapped = {
        tenant: stored_rows(databases, tenant, shard)[0].wrapped for tenant, shard in tenants
    }

    rotated = client.post("/internal/kms/root-key/rotate", json={"owner": "acct-42"})

    assert rotated.status_code == 200, rotated.text
    assert rotated.json() == {"region": REGION, "version": 2, "rewrapped": 3}
    for tenant, shard in tenants:
        [row] = stored_rows(databases, tenant, shard)
        assert (row.root_version, row.root_key_ref) == (2, "local:root-eu-v2")
        assert row.wrapped != wrapped[tenant]
        assert key_of(client, tenant, shard) == keys[tenant]
    versions = client.get("/internal/kms/root-keys").json()
    assert [(k["version"], k["state"], k["owner"]) for k in versions] == [
        (1, "retired", None),
        (2, "active", "acct-42"),
    ]
    assert all(k["region"] == REGION and k["created_at"] for k in versions)
    # Nothing needs the old root any more: with it disabled, every key still opens.
    provider.disable(ROOT_V1)
    assert all(key_of(client, t, s) == keys[t] for t, s in tenants)
    # New tenants' keys go under the new version.
    key_of(client, "tenant-d", "eu-2")
    assert stored_rows(databases, "tenant-d", "eu-2")[0].root_version == 2


def test_a_rotation_cut_short_leaves_every_key_readable_and_the_next_one_finishes(
    client: TestClient, databases: Databases, provider: LocalKeyProvider
) -> None:
    key_a = key_of(client, "tenant-a")
    provider.disable(ROOT_V1)

    failed = client.post("/internal/kms/root-key/rotate", json={"owner": None})
    assert failed.status_code == 503
    assert failed.json()["error"] == "root_key_unavailable"

    provider.enable(ROOT_V1)
    assert key_of(client, "tenant-a") == key_a
    again = client.post("/internal/kms/root-key/rotate", json={"owner": None})
    assert again.json() == {"region": REGION, "version": 3, "rewrapped": 1}
    assert stored_rows(databases, "tenant-a")[0].root_version == 3
    states = [(k["version"], k["state"]) for k in client.get("/internal/kms/root-keys").json()]
    assert states == [(1, "retired"), (2, "retired"), (3, "active")]


@pytest.mark.parametrize("body", [{"owner": 7}, {"owner": ""}, {"owner": None, "extra": 1}])
def test_a_malformed_rotation_request_changes_nothing(client: TestClient, body: Any) -> None:
    answer = client.post("/internal/kms/root-key/rotate", json=body)
    assert answer.status_code == 422
    assert [k["version"] for k in client.get("/internal/kms/root-keys").json()] == [1]


@pytest.mark.parametrize(
    ("revoke", "reason"),
    [(LocalKeyProvider.disable, "key_disabled"), (LocalKeyProvider.destroy, "key_not_found")],
)
def test_a_revoked_root_key_takes_tenant_keys_offline_with_a_clear_503(
    client: TestClient, provider: LocalKeyProvider, revoke: Any, reason: str
) -> None:
    key_of(client, "tenant-a")
    revoke(provider, ROOT_V1)

    for answer in (data_key(client, "tenant-a"), data_key(client, "tenant-new")):
        assert answer.status_code == 503
        assert answer.json()["error"] == "tenant_key_unavailable"
        assert reason in answer.json()["message"]
        assert answer.headers["cache-control"] == "no-store"


def test_a_disabled_root_key_enabled_again_brings_the_same_key_back(
    client: TestClient, provider: LocalKeyProvider
) -> None:
    key_a = key_of(client, "tenant-a")
    provider.disable(ROOT_V1)
    assert data_key(client, "tenant-a").status_code == 503
    provider.enable(ROOT_V1)
    assert key_of(client, "tenant-a") == key_a


def test_a_wrapped_key_moved_to_another_tenant_does_not_open(
    client: TestClient, databases: Databases
) -> None:
    key_of(client, "tenant-a")
    key_b = key_of(client, "tenant-b")
    [row_b] = stored_rows(databases, "tenant-b")
    with tenant_scope(context("tenant-a")), databases.session() as session:
        session.rows(update(WrappedDataKey).values(wrapped=row_b.wrapped))

    with capture_logs() as logs:
        answer = data_key(client, "tenant-a")

    assert answer.status_code == 500
    assert answer.json()["error"] == "data_key_corrupt"
    assert base64.b64encode(key_b).decode() not in answer.text
    assert any(e.get("reason") == "data_key_corrupt" for e in logs), logs


def test_key_events_are_audited_without_key_bytes(client: TestClient) -> None:
    with capture_logs() as logs:
        key_a = key_of(client, "tenant-a")
        client.post("/internal/kms/root-key/rotate", json={"owner": "acct-1"})
        key_of(client, "tenant-a")

    actions = [(e.get("action"), e.get("tenant_id")) for e in logs if e["event"] == "audit"]
    assert ("data_key_created", "tenant-a") in actions
    assert ("root_key_created", None) in actions
    assert ("data_keys_rewrapped", "tenant-a") in actions
    assert ("root_key_rotated", None) in actions
    text = repr(logs)
    assert base64.b64encode(key_a).decode() not in text
    assert key_a.hex() not in text and repr(key_a) not in text


def test_no_data_key_is_ever_stored_in_the_clear(tmp_path: Path) -> None:
    provider = LocalKeyProvider(tmp_path / "kms" / REGION)
    with (
        fresh_databases(SCHEMA, tmp_path, backend="sqlite") as databases,
        TestClient(build_app(databases, provider)) as client,
    ):
        keys = [key_of(client, f"tenant-{n}", SHARDS[n % 2]) for n in range(6)]
        client.post("/internal/kms/root-key/rotate", json={"owner": None})
        keys += [key_of(client, "tenant-late", "eu-2")]

        files = [p for p in tmp_path.rglob("*") if p.is_file()]
        assert any(p.name == "kms.sqlite" for p in files)
        assert any(p.name.endswith("-wal") for p in files)  # read while still open
        everything = b"".join(p.read_bytes() for p in files)
    for key in keys:
        for form in (key, base64.b64encode(key), key.hex().encode()):
            assert form not in everything


def test_the_revisions_build_exactly_the_models(tmp_path: Path) -> None:
    backend = SqliteBackend(tmp_path)
    backend.migrate(SCHEMA, "eu-1")
    engine = create_engine(f"sqlite:///{backend.path('kms', 'eu-1')}")
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection)
            assert compare_metadata(context, SCHEMA.metadata) == []
    finally:
        engine.dispose()


def test_destroying_a_tenants_keys_erases_every_version_and_no_key_comes_back(
    client: TestClient, databases: Databases
) -> None:
    key_of(client, "tenant-gone")
    assert (
        client.post("/internal/kms/data-key/rotate", headers=as_tenant("tenant-gone")).status_code
        == 200
    )
    kept = key_of(client, "tenant-kept")

    destroyed = client.post("/internal/kms/data-key/destroy", headers=as_tenant("tenant-gone"))
    assert destroyed.status_code == 200, destroyed.text
    assert destroyed.json() == {"destroyed": 2}
    assert [(r.version, r.wrapped, r.state) for r in stored_rows(databases, "tenant-gone")] == [
        (1, b"", "destroyed"),
        (2, b"", "destroyed"),
    ]
    # Neither the current key, nor an old version, nor a new one by rotation: all 410.
    for refused in (
        data_key(client, "tenant-gone"),
        data_key(client, "tenant-gone", version=1),
        client.post("/internal/kms/data-key/rotate", headers=as_tenant("tenant-gone")),
    ):
        assert refused.status_code == 410, refused.text
        assert refused.json()["error"] == "data_keys_destroyed"
    assert len(stored_rows(databases, "tenant-gone")) == 2
    # A root rotation passes the erased rows by; the neighbour's key is unchanged.
    rotated = client.post("/internal/kms/root-key/rotate", json={})
    assert rotated.status_code == 200, rotated.text
    assert key_of(client, "tenant-kept") == kept
