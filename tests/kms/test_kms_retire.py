"""A tenant's minimum decryption version: kms retires older data key versions and refuses them
to services from then on, while keeping them wrapped (and rewrapped) for old backups."""

from __future__ import annotations

import base64
from typing import Any

from fastapi.testclient import TestClient
from structlog.testing import capture_logs

from tenantry.platform.crypto import DataKey
from tenantry.platform.crypto.index_keys import index_key
from tenantry.platform.storage import Databases
from tenantry.services.kms.keyring import wrap_context
from tenantry.services.kms.providers import LocalKeyProvider

from .service_app import as_tenant, data_key, key_of, stored_rows

PURPOSE = b"tenantry accounts email index"


def retire(client: TestClient, tenant: str, below: Any) -> Any:
    return client.post(
        "/internal/kms/data-key/retire", headers=as_tenant(tenant), json={"below": below}
    )


def rotate(client: TestClient, tenant: str) -> int:
    answer = client.post("/internal/kms/data-key/rotate", headers=as_tenant(tenant))
    assert answer.status_code == 200, answer.text
    return int(answer.json()["version"])


def index_key_of(
    client: TestClient, tenant: str, purpose: bytes = PURPOSE, caller: str = "identity"
) -> Any:
    return client.get(
        f"/internal/kms/index-key/{purpose.hex()}", headers=as_tenant(tenant, caller=caller)
    )


def test_retired_versions_are_refused_and_the_current_one_serves(
    client: TestClient, databases: Databases
) -> None:
    first = key_of(client, "tenant-a")
    assert (rotate(client, "tenant-a"), rotate(client, "tenant-a")) == (2, 3)
    neighbour = key_of(client, "tenant-b")

    with capture_logs() as logs:
        done = retire(client, "tenant-a", 3)
    assert done.status_code == 200, done.text
    assert done.json() == {"retired": [1, 2], "min_version": 3}
    for version in (1, 2):
        refused = data_key(client, "tenant-a", version=version)
        assert refused.status_code == 410, refused.text
        assert refused.json()["error"] == "data_key_retired"
        assert refused.headers["cache-control"] == "no-store"
        assert base64.b64encode(first).decode() not in refused.text
    assert data_key(client, "tenant-a").json()["version"] == 3
    assert data_key(client, "tenant-a", version=3).status_code == 200
    assert key_of(client, "tenant-b") == neighbour  # another tenant notices nothing
    assert data_key(client, "tenant-b", version=1).status_code == 200
    # Still stored, wrapped: a restore of an old backup can have them back later.
    rows = stored_rows(databases, "tenant-a")
    assert [(r.version, r.state) for r in rows] == [(1, "retired"), (2, "retired"), (3, "active")]
    assert all(r.wrapped for r in rows)
    audits = [e for e in logs if e.get("action") == "data_keys_retired"]
    assert audits and audits[0]["tenant_id"] == "tenant-a" and audits[0]["versions"] == [1, 2]


def test_retiring_above_the_current_version_is_refused(
    client: TestClient, databases: Databases
) -> None:
    unknown = retire(client, "tenant-new", 1)  # no key at all yet
    assert unknown.status_code == 409
    assert unknown.json()["error"] == "retire_above_current"
    key_of(client, "tenant-a")
    rotate(client, "tenant-a")
    for below in (3, 4_000_000):
        refused = retire(client, "tenant-a", below)
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"] == "retire_above_current"
    assert {r.state for r in stored_rows(databases, "tenant-a")} == {"active"}
    for bad in (0, -1, "2", None, 2**32):
        assert retire(client, "tenant-a", bad).status_code == 422, bad
    nobody = client.post("/internal/kms/data-key/retire", json={"below": 1})
    assert nobody.status_code == 400 and nobody.json()["error"] == "tenant_required"


def test_retiring_is_idempotent_and_never_lowers_the_minimum(client: TestClient) -> None:
    key_of(client, "tenant-a")
    rotate(client, "tenant-a")
    rotate(client, "tenant-a")
    assert retire(client, "tenant-a", 2).json() == {"retired": [1], "min_version": 2}
    assert retire(client, "tenant-a", 2).json() == {"retired": [], "min_version": 2}
    assert retire(client, "tenant-a", 3).json() == {"retired": [2], "min_version": 3}
    assert retire(client, "tenant-a", 1).json() == {"retired": [], "min_version": 3}
    assert data_key(client, "tenant-a", version=2).status_code == 410
    # A later rotation goes on from the newest version; retiring below it is allowed again.
    assert rotate(client, "tenant-a") == 4
    assert retire(client, "tenant-a", 4).json() == {"retired": [3], "min_version": 4}


def test_root_rotations_keep_rewrapping_retired_versions(
    client: TestClient, databases: Databases, provider: LocalKeyProvider
) -> None:
    first = key_of(client, "tenant-a")
    rotate(client, "tenant-a")
    retire(client, "tenant-a", 2)
    rotated = client.post("/internal/kms/root-key/rotate", json={"owner": None})
    assert rotated.status_code == 200, rotated.text
    rows = {r.version: r for r in stored_rows(databases, "tenant-a")}
    assert {r.root_version for r in rows.values()} == {2}
    assert rows[1].state == "retired"
    # The retired version still unwraps to the very same key under the new root key.
    old = rows[1]
    unwrapped = provider.unwrap(old.root_key_ref, old.wrapped, wrap_context("tenant-a", 1))
    assert unwrapped == first
    assert data_key(client, "tenant-a", version=1).status_code == 410


def test_a_destroyed_tenant_stays_destroyed(client: TestClient, databases: Databases) -> None:
    key_of(client, "tenant-gone")
    rotate(client, "tenant-gone")
    retire(client, "tenant-gone", 2)
    destroyed = client.post("/internal/kms/data-key/destroy", headers=as_tenant("tenant-gone"))
    assert destroyed.json() == {"destroyed": 2}
    for refused in (
        retire(client, "tenant-gone", 1),
        retire(client, "tenant-gone", 2),
        data_key(client, "tenant-gone"),
        data_key(client, "tenant-gone", version=1),
        data_key(client, "tenant-gone", version=2),
        index_key_of(client, "tenant-gone"),
    ):
        assert refused.status_code == 410, refused.text
        assert refused.json()["error"] == "data_keys_destroyed"
    rows = stored_rows(databases, "tenant-gone")
    assert [(r.version, r.wrapped, r.state) for r in rows] == [
        (1, b"", "destroyed"),
        (2, b"", "destroyed"),
    ]


def test_index_keys_outlive_version_1_and_never_are_version_1(client: TestClient) -> None:
    first = key_of(client, "tenant-a")
    expected = index_key(DataKey(1, first), PURPOSE)
    before = index_key_of(client, "tenant-a")
    assert before.status_code == 200, before.text
    assert base64.b64decode(before.json()["key"]) == expected != first
    rotate(client, "tenant-a")
    retire(client, "tenant-a", 2)
    after = index_key_of(client, "tenant-a")
    assert after.status_code == 200
    assert base64.b64decode(after.json()["key"]) == expected
    assert after.headers["cache-control"] == "no-store"
    other = index_key_of(client, "tenant-a", b"issues.label", caller="issues").json()["key"]
    assert base64.b64decode(other) == index_key(DataKey(1, first), b"issues.label") != expected
    refused = index_key_of(client, "tenant-a", b"issues.label")  # identity's caller
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"] == "index_purpose_not_allowed"
    assert index_key_of(client, "tenant-b").status_code == 404  # no key made for it yet
    for bad in ("abc", "ZZ", "", "0" * 258):
        answer = client.get(f"/internal/kms/index-key/{bad}", headers=as_tenant("tenant-a"))
        assert answer.status_code in (404, 422), bad
