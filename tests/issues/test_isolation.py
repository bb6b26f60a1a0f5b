"""Two tenants on one shard: nothing one does ever reaches or reveals the other's issues."""

from __future__ import annotations

from typing import Any

import pytest

TOKENS = ("bob-secret-summary", "bob-secret-description", "bob-secret-comment", "bob-label")


@pytest.fixture
def bobs(bob: Any) -> dict[str, Any]:
    """Bob's tenant has project OPS with OPS-1 (commented, labelled) and project SEC with SEC-1."""
    bob.project("OPS")
    bob.project("SEC")
    issue = bob.issue(
        "OPS",
        "bob-secret-summary",
        description="bob-secret-description",
        assignee="bob",
        labels=["bob-label"],
    )
    commented = bob.post("/issues/OPS-1/comments", json={"body": "bob-secret-comment"})
    assert commented.status_code == 201
    bob.issue("SEC", "bob-secret-summary")
    return issue


def refs(issue: dict[str, Any]) -> list[str]:
    return [issue["key"], issue["id"]]


def assert_bobs_untouched(bob: Any, issue: dict[str, Any]) -> None:
    now = bob.get(f"/issues/{issue['id']}")
    assert now.status_code == 200
    assert now.json() == issue
    comments = bob.get("/issues/OPS-1/comments").json()["comments"]
    assert [c["body"] for c in comments] == ["bob-secret-comment"]


def assert_not_found(response: Any) -> None:
    assert response.status_code == 404, response.text
    assert response.json()["error"] == "issue_not_found"
    for token in TOKENS:
        assert token not in response.text


@pytest.mark.parametrize("alice_has_ops", [False, True])
def test_other_tenants_issue_is_404_for_every_operation(
    alice: Any, bob: Any, bobs: dict[str, Any], alice_has_ops: bool
) -> None:
    if alice_has_ops:
        alice.project("OPS")
    for ref in [*refs(bobs), "SEC-1"]:
        assert_not_found(alice.get(f"/issues/{ref}"))
        assert_not_found(alice.patch(f"/issues/{ref}", json={"summary": "pwned"}))
        assert_not_found(alice.patch(f"/issues/{ref}", json={"status": "In Progress"}))
        assert_not_found(alice.patch(f"/issues/{ref}", json={"assignee": None}))
        assert_not_found(alice.post(f"/issues/{ref}/comments", json={"body": "hi"}))
        assert_not_found(alice.get(f"/issues/{ref}/comments"))
        assert_not_found(alice.delete(f"/issues/{ref}"))
    assert_bobs_untouched(bob, bobs)


def test_same_keys_in_two_tenants_are_different_issues(
    alice: Any, bob: Any, bobs: dict[str, Any]
) -> None:
    alice.project("OPS")
    mine = alice.issue("OPS", "alice-summary")
    assert mine["key"] == "OPS-1"  # numbering is per tenant
    assert mine["id"] != bobs["id"]
    assert alice.get("/issues/OPS-1").json() == mine
    assert alice.patch("/issues/OPS-1", json={"summary": "alice-2"}).status_code == 200
    assert alice.post("/issues/OPS-1/comments", json={"body": "alice-c"}).status_code == 201
    alice_comments = alice.get("/issues/OPS-1/comments").json()["comments"]
    assert [c["body"] for c in alice_comments] == ["alice-c"]
    assert alice.delete("/issues/OPS-1").status_code == 204
    assert_bobs_untouched(bob, bobs)
    assert_not_found(alice.get(f"/issues/{bobs['id']}"))


def test_projects_are_per_tenant(alice: Any, bob: Any, bobs: dict[str, Any]) -> None:
    assert alice.get("/projects").json() == {"projects": []}
    missing = alice.get("/projects/SEC")
    assert missing.status_code == 404
    assert missing.json()["error"] == "project_not_found"
    made = alice.post("/issues", json={"project": "SEC", "summary": "x", "description": ""})
    assert made.status_code == 404
    assert made.json()["error"] == "project_not_found"
    assert alice.post("/projects", json={"key": "SEC", "name": "mine"}).status_code == 201
    assert alice.get("/projects").json() == {"projects": [{"key": "SEC", "name": "mine"}]}
    assert [p["key"] for p in bob.get("/projects").json()["projects"]] == ["OPS", "SEC"]
    assert bob.get("/projects/SEC").json() == {"key": "SEC", "name": "Operations"}
    assert bob.issue("SEC")["key"] == "SEC-2"


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"project": "OPS"},
        {"project": "SEC"},
        {"status": "To Do"},
        {"assignee": "bob"},
        {"label": "bob-label"},
        {"limit": 100},
    ],
)
def test_no_listing_ever_shows_the_other_tenant(
    alice: Any, bob: Any, bobs: dict[str, Any], params: dict[str, Any]
) -> None:
    alice.project("OPS")
    alice.issue("OPS", "alice-only")
    listed = alice.get("/issues", params=params)
    assert listed.status_code == 200
    for token in TOKENS:
        assert token not in listed.text
    assert all(issue["reporter"] == "alice" for issue in listed.json()["issues"])
    theirs = bob.get("/issues", params=params)
    assert "alice-only" not in theirs.text


def test_a_cursor_from_one_tenant_is_refused_for_another(
    alice: Any, bob: Any, bobs: dict[str, Any]
) -> None:
    for _ in range(3):
        bob.issue("OPS", "bob-secret-summary")
    page = bob.get("/issues", params={"project": "OPS", "limit": 1}).json()
    assert page["next_cursor"]
    alice.project("OPS")
    replayed = alice.get("/issues", params={"project": "OPS", "cursor": page["next_cursor"]})
    assert replayed.status_code == 400, replayed.text
    assert replayed.json()["error"] == "bad_cursor"
    for token in TOKENS:
        assert token not in replayed.text
    comments = bob.get("/issues/OPS-1/comments", params={"limit": 1}).json()
    assert comments["next_cursor"] is None  # one comment: nothing more to page
    assert bob.post("/issues/OPS-1/comments", json={"body": "again"}).status_code == 201
    cursor = bob.get("/issues/OPS-1/comments", params={"limit": 1}).json()["next_cursor"]
    alice.issue("OPS", "alice-own")
    theirs = alice.get("/issues/OPS-1/comments", params={"cursor": cursor})
    assert theirs.status_code == 400 and theirs.json()["error"] == "bad_cursor"


def test_tenants_on_other_shards_are_apart_too(
    as_tenant: Any, bob: Any, bobs: dict[str, Any]
) -> None:
    carol = as_tenant("tenant-b", "carol", shard="eu-2")  # same cloud id, other shard's database
    assert carol.get("/issues").json()["issues"] == []
    assert_not_found(carol.get(f"/issues/{bobs['id']}"))


def test_concurrent_creates_in_two_tenants_number_independently(
    alice: Any, bob: Any, bobs: dict[str, Any]
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    alice.project("OPS")
    with ThreadPoolExecutor(max_workers=4) as pool:
        made = list(pool.map(lambda i: (alice if i % 2 else bob).issue("OPS"), range(20)))
    alice_numbers = sorted(int(m["key"][4:]) for m in made if m["reporter"] == "alice")
    bob_numbers = sorted(int(m["key"][4:]) for m in made if m["reporter"] == "bob")
    assert alice_numbers == list(range(1, 11))
    assert bob_numbers == list(range(2, 12))  # bob's OPS-1 existed already
