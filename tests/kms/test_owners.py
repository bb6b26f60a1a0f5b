"""Root key owners on the kms routes: set by the operator, and a rotation when the owner changes.

The app is the one `test_kms_service` builds (the real kms routes on a bare FastAPI); audit lines
are caught with structlog's `capture_logs`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from structlog.testing import capture_logs

from tenantry.platform.storage import Databases
from tenantry.services.kms.audit import key_event
from tenantry.services.kms.providers import LocalKeyProvider

from .service_app import build_app, key_of

OWNER = "0123456789abcdef0123456789abcdef"
SOMEONE_ELSE = "fedcba9876543210fedcba9876543210"


@pytest.fixture
def kms(databases: Databases, provider: LocalKeyProvider) -> Iterator[TestClient]:
    with TestClient(build_app(databases, provider), raise_server_exceptions=False) as client:
        yield client


def versions(kms: TestClient) -> list[dict[str, Any]]:
    listed = kms.get("/internal/kms/root-keys")
    assert listed.status_code == 200
    return list(listed.json())


def set_owner(kms: TestClient, owner: str) -> Any:
    return kms.post("/internal/kms/root-key/owner", json={"owner": owner})


def changed(kms: TestClient, account: str, change: str, role: str | None = None) -> Any:
    if role is None and change == "role_changed":
        role = "member"
    body = {"account": account, "change": change, "role": role}
    return kms.post("/internal/kms/owners/changed", json=body)


def actions(logs: list[dict[str, Any]], action: str) -> list[dict[str, Any]]:
    return [line for line in logs if line.get("event") == "audit" and line["action"] == action]


def test_the_operator_sets_the_active_versions_owner(kms: TestClient) -> None:
    with capture_logs() as logs:
        answer = set_owner(kms, OWNER)
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    assert answer.json()["owner"] == OWNER
    assert [(v["version"], v["owner"]) for v in versions(kms)] == [(1, OWNER)]
    (event,) = actions(logs, "root_key_owner_set")
    assert event == {
        "event": "audit",
        "log_level": "info",
        "action": "root_key_owner_set",
        "region": "eu",
        "root_version": 1,
        "owner": OWNER,
        "previous_owner": None,
    }


@pytest.mark.parametrize(
    "body", [{}, {"owner": ""}, {"owner": "two words"}, {"owner": 7}, {"owner": OWNER, "x": 1}]
)
def test_a_malformed_owner_is_refused(kms: TestClient, body: Any) -> None:
    answer = kms.post("/internal/kms/root-key/owner", json=body)
    assert answer.status_code == 422
    assert versions(kms)[0]["owner"] is None


@pytest.mark.parametrize("change", ["role_changed", "deactivated", "removed"])
def test_an_owner_change_rotates_the_key_and_rewraps_every_tenant(
    kms: TestClient, change: str
) -> None:
    tenants = {("tenant-a", "eu-1"), ("tenant-b", "eu-2")}
    keys = {tenant: key_of(kms, *tenant) for tenant in tenants}
    set_owner(kms, OWNER)

    with capture_logs() as logs:
        answer = changed(kms, OWNER, change)
    assert answer.status_code == 200, answer.text
    assert answer.json()["rotated"] == {"region": "eu", "version": 2, "rewrapped": 2}
    assert [(v["version"], v["state"], v["owner"]) for v in versions(kms)] == [
        (1, "retired", OWNER),
        (2, "active", None),
    ]
    assert {tenant: key_of(kms, *tenant) for tenant in tenants} == keys

    reason = {
        "role_changed": "owner_role_changed",
        "deactivated": "owner_deactivated",
        "removed": "owner_removed",
    }[change]
    (rotated,) = actions(logs, "root_key_rotated")
    assert (rotated["reason"], rotated["root_version"], rotated["rewrapped"]) == (reason, 2, 2)
    (owner_event,) = actions(logs, "root_key_owner_changed")
    assert owner_event["owner"] == OWNER and owner_event["change"] == change
    assert (owner_event["from_root_version"], owner_event["root_version"]) == (1, 2)
    # Each tenant's log says why its keys were rewrapped, never whose account it was.
    rewrapped = actions(logs, "data_keys_rewrapped")
    assert [(e["reason"], e["root_version"]) for e in rewrapped] == [(reason, 2)] * 2
    assert all(OWNER not in str(e) for e in rewrapped)


def test_a_repeated_or_unrelated_report_rotates_nothing(kms: TestClient) -> None:
    set_owner(kms, OWNER)
    assert changed(kms, OWNER, "role_changed").json()["rotated"]["version"] == 2
    with capture_logs() as logs:
        again = changed(kms, OWNER, "removed")
        unrelated = changed(kms, SOMEONE_ELSE, "removed")
    assert again.status_code == unrelated.status_code == 200
    assert again.json()["rotated"] is None and unrelated.json()["rotated"] is None
    assert [v["version"] for v in versions(kms)] == [1, 2]
    assert actions(logs, "root_key_rotated") == []
    # The retired version it still owns is noted, not rotated again.
    (noted,) = actions(logs, "root_key_owner_changed")
    assert noted["rotated"] is False and noted["owned_versions"] == [1]


def test_a_report_that_the_account_became_an_admin_rotates_nothing(kms: TestClient) -> None:
    """An owner is an admin: a report of becoming one predates the ownership, so it is no loss."""
    set_owner(kms, OWNER)
    with capture_logs() as logs:
        promoted = changed(kms, OWNER, "role_changed", "admin")
    assert promoted.status_code == 200
    assert promoted.json()["rotated"] is None
    assert [(v["version"], v["owner"]) for v in versions(kms)] == [(1, OWNER)]
    assert actions(logs, "root_key_rotated") == []


@pytest.mark.parametrize(
    "body",
    [
        {"account": OWNER, "change": "role_changed", "role": "root"},
        {"account": OWNER, "change": "promoted"},
        {"account": OWNER},
        {"account": "", "change": "removed"},
        {"account": OWNER, "change": "removed", "extra": True},
    ],
)
def test_a_malformed_report_is_refused(kms: TestClient, body: Any) -> None:
    set_owner(kms, OWNER)
    answer = kms.post("/internal/kms/owners/changed", json=body)
    assert answer.status_code == 422
    assert [v["version"] for v in versions(kms)] == [1]


def test_the_new_owner_set_after_a_rotation_owns_only_the_new_version(kms: TestClient) -> None:
    set_owner(kms, OWNER)
    changed(kms, OWNER, "removed")
    set_owner(kms, SOMEONE_ELSE)
    assert [v["owner"] for v in versions(kms)] == [OWNER, SOMEONE_ELSE]
    assert changed(kms, SOMEONE_ELSE, "role_changed").json()["rotated"]["version"] == 3


def test_an_audit_event_refuses_bytes() -> None:
    with capture_logs() as logs, pytest.raises(TypeError, match="bytes may not be logged"):
        key_event("data_key_created", tenant_id="t", key=b"\x00" * 32)
    assert logs == []
