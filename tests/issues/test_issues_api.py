"""The issues API contract: projects, issues, workflow, comments, listing and bad input."""

from __future__ import annotations

import base64
import json
import re
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import pytest

from issues_harness import tenant_keys
from tenantry.platform.context import TenantContext, tenant_scope
from tenantry.platform.errors import ApiError
from tenantry.platform.storage import Databases
from tenantry.services.issues import store
from tenantry.services.issues.identifiers import parse_issue_ref


def error_of(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == code, response.text
    assert set(response.json()) == {"error", "message"}


ISSUE_FIELDS = {
    "key",
    "id",
    "project",
    "summary",
    "description",
    "status",
    "assignee",
    "reporter",
    "labels",
    "created_at",
    "updated_at",
}


# --- projects -------------------------------------------------------------------------------


def test_create_list_and_read_projects(alice: Any) -> None:
    made = alice.post("/projects", json={"key": "OPS", "name": "Operations"})
    assert made.status_code == 201
    assert made.json() == {"key": "OPS", "name": "Operations"}
    alice.project("AB1", "Other")
    listed = alice.get("/projects")
    assert listed.status_code == 200
    assert listed.json() == {
        "projects": [{"key": "AB1", "name": "Other"}, {"key": "OPS", "name": "Operations"}]
    }
    assert alice.get("/projects/OPS").json() == {"key": "OPS", "name": "Operations"}
    error_of(alice.get("/projects/NOPE"), 404, "project_not_found")
    error_of(alice.get("/projects/ops"), 422, "invalid_key")


def test_duplicate_project_key_is_409(alice: Any) -> None:
    alice.project("OPS")
    error_of(alice.post("/projects", json={"key": "OPS", "name": "again"}), 409, "project_exists")


@pytest.mark.parametrize(
    "key", ["ops", "O", "OPSABCDEFGH", "1OPS", "OP-S", "", "OPS\n", "ÖPS", "OPS "]
)
def test_invalid_project_keys_are_422(alice: Any, key: str) -> None:
    error_of(alice.post("/projects", json={"key": key, "name": "x"}), 422, "invalid_request")


def test_longest_and_shortest_project_keys_are_fine(alice: Any) -> None:
    alice.project("AB")
    alice.project("ABCDEFGHI9")


@pytest.mark.parametrize(
    "body",
    [
        {"key": "OPS"},
        {"key": "OPS", "name": ""},
        {"key": "OPS", "name": "   "},
        {"key": "OPS", "name": "x" * 256},
        {"key": "OPS", "name": 5},
        {"key": "OPS", "name": "x", "owner": "me"},
        [],
    ],
)
def test_invalid_project_bodies_are_422(alice: Any, body: Any) -> None:
    error_of(alice.post("/projects", json=body), 422, "invalid_request")


# --- creating and reading issues ------------------------------------------------------------


def test_create_issue_answers_the_whole_issue(alice: Any) -> None:
    alice.project()
    made = alice.post(
        "/issues",
        json={
            "project": "OPS",
            "summary": "Disk full",
            "description": "on db-1",
            "assignee": "acc-42",
            "labels": ["infra", "p1"],
        },
    )
    assert made.status_code == 201, made.text
    issue = made.json()
    assert set(issue) == ISSUE_FIELDS
    assert issue["key"] == "OPS-1"
    assert re.fullmatch(r"[0-9a-f]{32}", issue["id"])
    assert issue["project"] == "OPS"
    assert issue["summary"] == "Disk full"
    assert issue["description"] == "on db-1"
    assert issue["status"] == "To Do"
    assert issue["assignee"] == "acc-42"
    assert issue["reporter"] == "alice"
    assert issue["labels"] == ["infra", "p1"]
    created = datetime.fromisoformat(issue["created_at"])
    assert created.utcoffset() is not None and created.utcoffset().total_seconds() == 0
    assert issue["created_at"] == issue["updated_at"]


def test_optional_fields_default(alice: Any) -> None:
    alice.project()
    issue = alice.issue()
    assert issue["assignee"] is None
    assert issue["labels"] == []


def test_numbers_are_sequential_per_project(alice: Any) -> None:
    alice.project("OPS")
    alice.project("WEB")
    keys = [alice.issue("OPS")["key"], alice.issue("OPS")["key"], alice.issue("WEB")["key"]]
    keys.append(alice.issue("OPS")["key"])
    assert keys == ["OPS-1", "OPS-2", "WEB-1", "OPS-3"]


def test_unknown_project_is_404(alice: Any) -> None:
    made = alice.post("/issues", json={"project": "NOPE", "summary": "s", "description": ""})
    error_of(made, 404, "project_not_found")


def test_read_by_key_and_by_id_agree(alice: Any) -> None:
    alice.project()
    issue = alice.issue(summary="hello")
    by_key = alice.get("/issues/OPS-1")
    by_id = alice.get(f"/issues/{issue['id']}")
    assert by_key.status_code == by_id.status_code == 200
    assert by_key.json() == by_id.json() == issue


@pytest.mark.parametrize(
    "ref",
    [
        "not-a-key",
        "ops-1",
        "OPS-0",
        "OPS-01",
        "OPS-",
        "OPS-1a",
        "O-1",
        "OPS-12345678901",
        "0" * 31,
        "0" * 33,
        "A" * 32,
        "OPS-1%0A",
        "OPS-1%20",
        "%00",
    ],
)
def test_malformed_refs_are_422_everywhere(alice: Any, ref: str) -> None:
    alice.project()
    alice.issue()
    error_of(alice.get(f"/issues/{ref}"), 422, "invalid_key")
    error_of(alice.patch(f"/issues/{ref}", json={"summary": "x"}), 422, "invalid_key")
    error_of(alice.delete(f"/issues/{ref}"), 422, "invalid_key")
    error_of(alice.post(f"/issues/{ref}/comments", json={"body": "x"}), 422, "invalid_key")
    error_of(alice.get(f"/issues/{ref}/comments"), 422, "invalid_key")


def test_missing_issues_are_404(alice: Any) -> None:
    alice.project()
    alice.issue()
    for ref in ("OPS-2", "NOPE-1", uuid.uuid4().hex):
        error_of(alice.get(f"/issues/{ref}"), 404, "issue_not_found")


# --- bad input ------------------------------------------------------------------------------


def test_malformed_json_is_refused(alice: Any) -> None:
    alice.project()
    bad = alice.post("/issues", content=b"{not json", headers={"content-type": "application/json"})
    error_of(bad, 400, "malformed_json")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"project": "OPS", "summary": 5, "description": ""}, id="int-summary"),
        pytest.param({"project": "OPS", "summary": "s", "description": None}, id="null-desc"),
        pytest.param({"project": 1, "summary": "s", "description": ""}, id="int-project"),
        pytest.param({"project": "OPS", "summary": "s", "description": "", "labels": "x"}),
        pytest.param({"project": "OPS", "summary": "s", "description": "", "labels": [1]}),
        pytest.param({"project": "OPS", "summary": "s", "description": "", "assignee": 7}),
        pytest.param({"project": "OPS", "summary": True, "description": ""}, id="bool-summary"),
        pytest.param({"project": "OPS", "summary": "s"}, id="no-description"),
        pytest.param({"summary": "s", "description": ""}, id="no-project"),
        pytest.param({"project": "OPS", "summary": "s", "description": "", "evil": 1}),
        pytest.param(
            {"project": "OPS", "summary": "s", "description": "", "status": "Done"},
            id="status-on-create",
        ),
        pytest.param(
            {"project": "OPS", "summary": "s", "description": "", "reporter": "x"},
            id="reporter-on-create",
        ),
        pytest.param(["OPS", "s", ""], id="array"),
        pytest.param("OPS", id="string"),
    ],
)
def test_wrong_types_and_unknown_fields_are_422(alice: Any, body: Any) -> None:
    alice.project()
    error_of(alice.post("/issues", json=body), 422, "invalid_request")


@pytest.mark.parametrize(
    ("field", "value", "ok"),
    [
        ("summary", "", False),
        ("summary", "   ", False),
        ("summary", "x" * 255, True),
        ("summary", "x" * 256, False),
        ("description", "x" * 32 * 1024, True),
        ("description", "x" * (32 * 1024 + 1), False),
        ("description", "é" * (16 * 1024 + 1), False),  # 2 bytes each: over 32 KiB
        ("assignee", "a" * 64, True),
        ("assignee", "a" * 65, False),
        ("assignee", "", False),
        ("labels", [f"l{i}" for i in range(20)], True),
        ("labels", [f"l{i}" for i in range(21)], False),
        ("labels", ["a" * 50], True),
        ("labels", ["a" * 51], False),
        ("labels", ["A-b_c.9"], True),
        ("labels", ["has space"], False),
        ("labels", ["semi;colon"], False),
        ("labels", [""], False),
        ("labels", ["dup", "dup"], False),
    ],
)
def test_limits(alice: Any, field: str, value: Any, ok: bool) -> None:
    alice.project()
    body = {"project": "OPS", "summary": "s", "description": "", field: value}
    made = alice.post("/issues", json=body)
    if ok:
        assert made.status_code == 201, made.text
        assert made.json()[field] == value
    else:
        error_of(made, 422, "invalid_request")


# --- changing issues ------------------------------------------------------------------------


def test_patch_changes_only_the_given_fields(alice: Any) -> None:
    alice.project()
    issue = alice.issue(summary="old", assignee="acc-1", labels=["a"])
    changed = alice.patch(
        "/issues/OPS-1", json={"summary": "new", "description": "more", "labels": ["b", "c"]}
    )
    assert changed.status_code == 200, changed.text
    after = changed.json()
    assert after["summary"] == "new"
    assert after["description"] == "more"
    assert after["labels"] == ["b", "c"]
    assert after["assignee"] == "acc-1"
    assert after["status"] == "To Do"
    assert after["created_at"] == issue["created_at"]
    assert after["updated_at"] > issue["updated_at"]
    assert alice.get(f"/issues/{issue['id']}").json() == after


def test_patch_assignee_null_unassigns(alice: Any) -> None:
    alice.project()
    alice.issue(assignee="acc-1")
    assert alice.patch("/issues/OPS-1", json={"assignee": None}).json()["assignee"] is None
    assert alice.patch("/issues/OPS-1", json={"assignee": "acc-2"}).json()["assignee"] == "acc-2"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"summary": None},
        {"labels": None},
        {"status": None},
        {"status": "Closed"},
        {"status": "done"},
        {"summary": 5},
        {"reporter": "me"},
        {"key": "OPS-9"},
        {"project": "WEB"},
        {"summary": "x" * 256},
        [],
    ],
)
def test_invalid_patches_are_422(alice: Any, body: Any) -> None:
    alice.project()
    alice.issue(summary="kept")
    error_of(alice.patch("/issues/OPS-1", json=body), 422, "invalid_request")
    assert alice.get("/issues/OPS-1").json()["summary"] == "kept"


ALLOWED = {
    ("To Do", "In Progress"),
    ("In Progress", "Done"),
    ("In Progress", "To Do"),
    ("Done", "In Progress"),
}
PATH_TO = {"To Do": [], "In Progress": ["In Progress"], "Done": ["In Progress", "Done"]}
STATUSES = ["To Do", "In Progress", "Done"]


@pytest.mark.parametrize("start", STATUSES)
@pytest.mark.parametrize("target", STATUSES)
def test_workflow_transitions(alice: Any, start: str, target: str) -> None:
    alice.project()
    alice.issue()
    for step in PATH_TO[start]:
        assert alice.patch("/issues/OPS-1", json={"status": step}).status_code == 200
    moved = alice.patch("/issues/OPS-1", json={"status": target})
    if (start, target) in ALLOWED or start == target:
        assert moved.status_code == 200, moved.text
        assert moved.json()["status"] == target
    else:
        error_of(moved, 409, "transition_not_allowed")
        assert alice.get("/issues/OPS-1").json()["status"] == start


def test_a_refused_transition_changes_nothing_else(alice: Any) -> None:
    alice.project()
    alice.issue(summary="kept")
    moved = alice.patch("/issues/OPS-1", json={"status": "Done", "summary": "lost"})
    error_of(moved, 409, "transition_not_allowed")
    assert alice.get("/issues/OPS-1").json()["summary"] == "kept"


def test_delete_issue(alice: Any) -> None:
    alice.project()
    issue = alice.issue()
    alice.post("/issues/OPS-1/comments", json={"body": "c"})
    gone = alice.delete("/issues/OPS-1")
    assert gone.status_code == 204
    assert gone.content == b""
    error_of(alice.get("/issues/OPS-1"), 404, "issue_not_found")
    error_of(alice.get(f"/issues/{issue['id']}"), 404, "issue_not_found")
    error_of(alice.delete(f"/issues/{issue['id']}"), 404, "issue_not_found")
    error_of(alice.get("/issues/OPS-1/comments"), 404, "issue_not_found")
    assert alice.issue()["key"] == "OPS-2"  # numbers are never reused


def test_concurrent_edits_are_409_not_lost(databases: Databases) -> None:
    tenant = TenantContext("tenant-x", "x", "eu", "eu-1", "active")
    with tenant_scope(tenant):
        with databases.session() as s:
            store.create_project(s, tenant_keys(), "OPS", "Ops")
            store.create_issue(
                s, tenant_keys(), project="OPS", summary="s", description="", reporter="r"
            )
        ref = parse_issue_ref("OPS-1")
        changes = store.IssueChanges(fields=frozenset({"summary"}), summary="first")
        with pytest.raises(ApiError) as refused, databases.session() as stale:
            issue = store.find_issue(stale, tenant_keys(), ref)
            with databases.session() as other:
                store.change_issue(
                    other, tenant_keys(), store.find_issue(other, tenant_keys(), ref), changes
                )
            store.change_issue(
                stale,
                tenant_keys(),
                issue,
                store.IssueChanges(fields=frozenset({"summary"}), summary="lost"),
            )
        assert (refused.value.status, refused.value.code) == (409, "edit_conflict")
        with databases.session() as s:
            assert store.find_issue(s, tenant_keys(), ref).summary == "first"


# --- comments -------------------------------------------------------------------------------


def test_comments(alice: Any, as_tenant: Any) -> None:
    alice.project()
    issue = alice.issue()
    first = alice.post("/issues/OPS-1/comments", json={"body": "first"})
    assert first.status_code == 201, first.text
    assert set(first.json()) == {"id", "body", "author", "created_at"}
    assert first.json()["body"] == "first"
    assert first.json()["author"] == "alice"
    carol = as_tenant("tenant-a", "carol")
    second = carol.post(f"/issues/{issue['id']}/comments", json={"body": "second"})
    assert second.status_code == 201
    listed = alice.get("/issues/OPS-1/comments")
    assert listed.status_code == 200
    assert listed.json() == {"comments": [first.json(), second.json()], "next_cursor": None}


def test_comment_pagination(alice: Any) -> None:
    alice.project()
    alice.issue()
    bodies = [f"c{i}" for i in range(5)]
    for body in bodies:
        assert alice.post("/issues/OPS-1/comments", json={"body": body}).status_code == 201
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = alice.get("/issues/OPS-1/comments", params=params).json()
        assert len(page["comments"]) <= 2
        seen += [c["body"] for c in page["comments"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == bodies
    bad = alice.get("/issues/OPS-1/comments", params={"cursor": "nonsense"})
    error_of(bad, 400, "bad_cursor")


def test_a_comment_cursor_serves_only_its_own_issue(alice: Any) -> None:
    alice.project()
    for _ in range(2):
        alice.issue()
        for body in ("a", "b"):
            assert alice.post("/issues/OPS-1/comments", json={"body": body}).status_code == 201
    cursor = alice.get("/issues/OPS-1/comments", params={"limit": 1}).json()["next_cursor"]
    assert alice.get("/issues/OPS-1/comments", params={"cursor": cursor}).status_code == 200
    error_of(alice.get("/issues/OPS-2/comments", params={"cursor": cursor}), 400, "bad_cursor")
    # Nor is it a cursor of the issue listing.
    error_of(alice.get("/issues", params={"cursor": cursor}), 400, "bad_cursor")


@pytest.mark.parametrize(
    "body",
    [{}, {"body": ""}, {"body": 5}, {"body": "x" * (32 * 1024 + 1)}, {"body": "x", "author": "y"}],
)
def test_invalid_comments_are_422(alice: Any, body: Any) -> None:
    alice.project()
    alice.issue()
    error_of(alice.post("/issues/OPS-1/comments", json=body), 422, "invalid_request")
    assert alice.get("/issues/OPS-1/comments").json()["comments"] == []


def test_comment_on_missing_issue_is_404(alice: Any) -> None:
    alice.project()
    error_of(alice.post("/issues/OPS-1/comments", json={"body": "x"}), 404, "issue_not_found")


# --- listing --------------------------------------------------------------------------------


@pytest.fixture
def catalogue(alice: Any) -> Any:
    """OPS-1..4 and WEB-1 with a mix of statuses, assignees and labels."""
    alice.project("OPS")
    alice.project("WEB")
    alice.issue("OPS", "one", assignee="ann", labels=["db"])
    alice.issue("OPS", "two", assignee="ben", labels=["db", "p1"])
    alice.issue("OPS", "three")
    alice.issue("WEB", "four", assignee="ann", labels=["p1"])
    alice.issue("OPS", "five", labels=["p1"])
    alice.patch("/issues/OPS-2", json={"status": "In Progress"})
    return alice


def keys_of(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [issue["key"] for issue in response.json()["issues"]]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ["OPS-1", "OPS-2", "OPS-3", "OPS-4", "WEB-1"]),
        ({"project": "OPS"}, ["OPS-1", "OPS-2", "OPS-3", "OPS-4"]),
        ({"project": "WEB"}, ["WEB-1"]),
        ({"project": "NOPE"}, []),
        ({"status": "In Progress"}, ["OPS-2"]),
        ({"status": "To Do", "project": "OPS"}, ["OPS-1", "OPS-3", "OPS-4"]),
        ({"assignee": "ann"}, ["OPS-1", "WEB-1"]),
        ({"label": "p1"}, ["OPS-2", "OPS-4", "WEB-1"]),
        ({"label": "db", "assignee": "ben"}, ["OPS-2"]),
        ({"label": "none"}, []),
        ({"status": "Done"}, []),
    ],
)
def test_list_filters(catalogue: Any, params: dict[str, str], expected: list[str]) -> None:
    listed = catalogue.get("/issues", params=params)
    assert keys_of(listed) == expected
    assert listed.json()["next_cursor"] is None


def test_listed_issues_are_whole_issues(catalogue: Any) -> None:
    listed = catalogue.get("/issues", params={"project": "WEB"}).json()["issues"]
    assert listed == [catalogue.get("/issues/WEB-1").json()]


@pytest.mark.parametrize("limit", [1, 2, 3, 5, 100])
def test_pagination_walks_everything_once(catalogue: Any, limit: int) -> None:
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": limit}
        if cursor is not None:
            params["cursor"] = cursor
        page = catalogue.get("/issues", params=params)
        seen += keys_of(page)
        pages += 1
        assert len(page.json()["issues"]) <= limit
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
        assert isinstance(cursor, str)
    assert seen == ["OPS-1", "OPS-2", "OPS-3", "OPS-4", "WEB-1"]
    assert pages == -(-5 // limit)


def test_pagination_with_filters_and_changes_between_pages(catalogue: Any) -> None:
    first = catalogue.get("/issues", params={"label": "p1", "limit": 1}).json()
    assert [i["key"] for i in first["issues"]] == ["OPS-2"]
    catalogue.delete("/issues/OPS-4")
    rest = catalogue.get("/issues", params={"label": "p1", "cursor": first["next_cursor"]})
    assert keys_of(rest) == ["WEB-1"]


def test_default_page_is_50(alice: Any) -> None:
    alice.project()
    for _ in range(51):
        alice.issue()
    page = alice.get("/issues").json()
    assert len(page["issues"]) == 50
    assert page["next_cursor"] is not None
    assert keys_of(alice.get("/issues", params={"cursor": page["next_cursor"]})) == ["OPS-51"]


def _raw_cursor(parts: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(parts).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 101},
        {"limit": -1},
        {"limit": "ten"},
        {"project": "ops"},
        {"status": "Closed"},
        {"label": "bad label"},
        {"assignee": "a" * 65},
        {"assignee": "a\x00"},
        {"assignee": "\u202eadmin"},
        {"cursor": "x" * 600},
    ],
)
def test_bad_list_parameters_are_422(catalogue: Any, params: dict[str, Any]) -> None:
    error_of(catalogue.get("/issues", params=params), 422, "invalid_request")


def _signed_looking(cursor: str, parts: Any) -> str:
    """`cursor` with its parts replaced and its tag kept (an edited cursor)."""
    return _raw_cursor(parts) + "." + cursor.split(".", 1)[1]


@pytest.mark.parametrize(
    "forge",
    [
        lambda c: "!!!",
        lambda c: "bm90IGpzb24",
        lambda c: _raw_cursor(["OPS", 1]),
        lambda c: _raw_cursor(["OPS", 10**30]),
        lambda c: _signed_looking(c, ["OPS", 10**30]),
        lambda c: _signed_looking(c, ["OPS", 1]),
        lambda c: _signed_looking(c, ["OPS"]),
        lambda c: _signed_looking(c, {"p": "OPS"}),
        lambda c: c[:-2] + ("AA" if not c.endswith("AA") else "BB"),
        lambda c: c + "." + c,
        lambda c: c.split(".")[0],
        lambda c: "." + c.split(".")[1],
        lambda c: c.replace(".", ".\u00e9"),
    ],
)
def test_a_cursor_not_handed_out_is_400(catalogue: Any, forge: Any) -> None:
    page = catalogue.get("/issues", params={"limit": 1}).json()
    assert page["next_cursor"]
    forged = forge(page["next_cursor"])
    error_of(catalogue.get("/issues", params={"cursor": forged}), 400, "bad_cursor")


def test_a_cursor_serves_only_the_filters_it_was_handed_out_with(catalogue: Any) -> None:
    ops = catalogue.get("/issues", params={"project": "OPS", "limit": 1}).json()["next_cursor"]
    same = catalogue.get("/issues", params={"project": "OPS", "cursor": ops})
    assert same.status_code == 200 and keys_of(same) == ["OPS-2", "OPS-3", "OPS-4"]
    for params in ({}, {"project": "WEB"}, {"project": "OPS", "label": "p1"}):
        refused = catalogue.get("/issues", params={**params, "cursor": ops})
        error_of(refused, 400, "bad_cursor")


def test_cursors_of_another_service_key_are_refused(databases: Databases) -> None:
    """Another deployment's (or a rotated key's) cursor is not one this service handed out."""
    from fastapi.testclient import TestClient

    from issues_harness import build_app

    with TestClient(build_app(databases)) as first, TestClient(build_app(databases)) as second:
        headers = {"x-test-tenant": "tenant-a", "x-test-user": "alice"}
        first.post("/rest/issues/projects", json={"key": "OPS", "name": "x"}, headers=headers)
        for _ in range(2):
            made = first.post(
                "/rest/issues/issues",
                json={"project": "OPS", "summary": "s", "description": ""},
                headers=headers,
            )
            assert made.status_code == 201
        cursor = first.get("/rest/issues/issues", params={"limit": 1}, headers=headers).json()[
            "next_cursor"
        ]
        theirs = second.get("/rest/issues/issues", params={"cursor": cursor}, headers=headers)
        error_of(theirs, 400, "bad_cursor")


# --- who is asking --------------------------------------------------------------------------

ROUTES = [
    ("POST", "/projects", {"key": "OPS", "name": "x"}),
    ("GET", "/projects", None),
    ("GET", "/projects/OPS", None),
    ("POST", "/issues", {"project": "OPS", "summary": "s", "description": ""}),
    ("POST", "/issues", {"evil": True}),
    ("GET", "/issues", None),
    ("GET", "/issues/OPS-1", None),
    ("PATCH", "/issues/OPS-1", {"summary": "x"}),
    ("DELETE", "/issues/OPS-1", None),
    ("POST", "/issues/OPS-1/comments", {"body": "x"}),
    ("GET", "/issues/OPS-1/comments", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_every_route_needs_a_user(
    alice: Any, as_tenant: Any, method: str, path: str, body: Any
) -> None:
    alice.project()
    alice.issue(summary="untouched")
    anonymous = as_tenant("tenant-a", user=None)
    error_of(anonymous.request(method, path, json=body), 401, "user_required")
    assert alice.get("/issues/OPS-1").json()["summary"] == "untouched"


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_every_route_needs_a_tenant(client: Any, method: str, path: str, body: Any) -> None:
    response = client.request(method, f"/rest/issues{path}", json=body)
    error_of(response, 400, "tenant_required")


# --- concurrency ----------------------------------------------------------------------------


def test_concurrent_creates_get_distinct_sequential_numbers(alice: Any, as_tenant: Any) -> None:
    alice.project("OPS")
    workers, each = 8, 10
    start = threading.Barrier(workers)

    def create_many(worker: int) -> list[int]:
        me = as_tenant("tenant-a", f"user{worker}")
        start.wait()
        return [int(me.issue("OPS")["key"].split("-")[1]) for _ in range(each)]

    with ThreadPoolExecutor(max_workers=workers) as pool:
        numbers = [n for batch in pool.map(create_many, range(workers)) for n in batch]
    assert sorted(numbers) == list(range(1, workers * each + 1))
    listed: list[str] = []
    cursor = None
    while True:
        page = alice.get("/issues", params={"limit": 100, **({"cursor": cursor} if cursor else {})})
        listed += keys_of(page)
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert listed == [f"OPS-{n}" for n in range(1, workers * each + 1)]
