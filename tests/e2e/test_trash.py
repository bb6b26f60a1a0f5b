"""A site's trash through a real cloud: deleted issues, comments and attachments vanish from
every read, come back whole when restored, and never cross to another site."""

from __future__ import annotations

import pytest

from .api import Site, add_account, signup, token_for, trash_item
from .cloud import Cloud

pytestmark = pytest.mark.e2e
NOTES = b"the minutes, kept\n" * 40


def _as(site: Site, token: str) -> Site:
    return Site(site.name, site.cloud_id, site.region, token, site.http)


def _error(response: object, status: int, code: str) -> None:
    assert getattr(response, "status_code", None) == status, getattr(response, "text", "")
    assert response.json()["error"] == code  # type: ignore[attr-defined]


def _attach(site: Site, key: str) -> dict[str, object]:
    made = site.request(
        "POST",
        f"/rest/issues/issues/{key}/attachments",
        files={"file": ("notes.txt", NOTES, "application/octet-stream")},
    )
    assert made.status_code == 201, made.text
    listed = site.request("GET", f"/rest/issues/issues/{key}/attachments").json()["attachments"]
    (file,) = [f for f in listed if f["id"] == made.json()["id"]]
    return dict(file)


@pytest.fixture(scope="module")
def site(cloud: Cloud) -> Site:
    made = signup(cloud, region="eu", prefix="trash")
    made.create_project()
    return made


def test_a_deleted_issue_leaves_every_read_and_comes_back_whole(cloud: Cloud, site: Site) -> None:
    issue = site.create_issue("a plan in the trash", "its details")
    key = issue["key"]
    labelled = site.request("PATCH", f"/rest/issues/issues/{key}", json={"labels": ["trashy"]})
    assert labelled.status_code == 200, labelled.text
    commented = site.request("POST", f"/rest/issues/issues/{key}/comments", json={"body": "hi"})
    assert commented.status_code == 201
    file = _attach(site, key)

    assert site.request("DELETE", f"/rest/issues/issues/{key}").status_code == 204
    _error(site.request("GET", f"/rest/issues/issues/{key}"), 404, "issue_not_found")
    _error(site.request("GET", f"/rest/issues/issues/{issue['id']}"), 404, "issue_not_found")
    for query in ({"project": "OPS"}, {"label": "trashy"}, {}):
        listed = site.request("GET", "/rest/issues/issues", params=query).json()["issues"]
        assert key not in [i["key"] for i in listed], query
    _error(site.request("GET", f"/rest/issues/issues/{key}/comments"), 404, "issue_not_found")
    edit = site.request("PATCH", f"/rest/issues/issues/{key}", json={"summary": "x"})
    _error(edit, 404, "issue_not_found")
    with cloud.http("eu") as plain:  # its attachments' links, handed out before, are dead too
        assert plain.get(str(file["download_url"])).status_code == 404

    entry = trash_item(site, issue["id"])
    assert entry["kind"] == "issue" and entry["issue"] == key
    assert entry["title"] == "a plan in the trash" and entry["deleted_at"]
    me = site.request("GET", "/rest/identity/me").json()
    assert entry["deleted_by"] == me["account_id"]

    restored = site.request("POST", f"/rest/issues/trash/{entry['id']}/restore")
    assert restored.status_code == 200, restored.text
    back = site.request("GET", f"/rest/issues/issues/{key}").json()
    assert (back["summary"], back["description"], back["labels"]) == (
        "a plan in the trash",
        "its details",
        ["trashy"],
    )
    comments = site.request("GET", f"/rest/issues/issues/{key}/comments").json()["comments"]
    assert [c["body"] for c in comments] == ["hi"]
    listed = site.request("GET", "/rest/issues/issues", params={"label": "trashy"}).json()
    assert [i["key"] for i in listed["issues"]] == [key]
    with cloud.http("eu") as plain:
        assert plain.get(str(file["download_url"])).content == NOTES
    again = site.request("POST", f"/rest/issues/trash/{entry['id']}/restore")
    _error(again, 404, "trash_item_not_found")


def test_a_comment_and_an_attachment_go_to_the_trash_and_back(cloud: Cloud, site: Site) -> None:
    key = site.create_issue("with things on it")["key"]
    made = site.request("POST", f"/rest/issues/issues/{key}/comments", json={"body": "oops"})
    comment = made.json()
    file = _attach(site, key)

    gone = site.request("DELETE", f"/rest/issues/issues/{key}/comments/{comment['id']}")
    assert gone.status_code == 204, gone.text
    comments = site.request("GET", f"/rest/issues/issues/{key}/comments").json()["comments"]
    assert comments == []
    again = site.request("DELETE", f"/rest/issues/issues/{key}/comments/{comment['id']}")
    _error(again, 404, "comment_not_found")
    trashed = site.request("DELETE", f"/rest/issues/issues/{key}/attachments/{file['id']}")
    assert trashed.status_code == 204, trashed.text
    listed = site.request("GET", f"/rest/issues/issues/{key}/attachments").json()
    assert listed["attachments"] == []
    with cloud.http("eu") as plain:  # a link handed out before is dead at once
        assert plain.get(str(file["download_url"])).status_code == 404

    comment_entry = trash_item(site, comment["id"])
    file_entry = trash_item(site, str(file["id"]))
    assert (comment_entry["kind"], comment_entry["title"]) == ("comment", "oops")
    assert (file_entry["kind"], file_entry["title"]) == ("attachment", "notes.txt")

    # While the issue is in the trash, nothing of it can come back on its own.
    issue_id = site.request("GET", f"/rest/issues/issues/{key}").json()["id"]
    assert site.request("DELETE", f"/rest/issues/issues/{key}").status_code == 204
    for entry in (comment_entry, file_entry):
        refused = site.request("POST", f"/rest/issues/trash/{entry['id']}/restore")
        _error(refused, 409, "issue_in_trash")
    issue_entry = trash_item(site, issue_id)
    assert site.request("POST", f"/rest/issues/trash/{issue_entry['id']}/restore").is_success

    for entry in (comment_entry, file_entry):
        restored = site.request("POST", f"/rest/issues/trash/{entry['id']}/restore")
        assert restored.status_code == 200, restored.text
    comments = site.request("GET", f"/rest/issues/issues/{key}/comments").json()["comments"]
    assert [c["body"] for c in comments] == ["oops"]
    files = site.request("GET", f"/rest/issues/issues/{key}/attachments").json()["attachments"]
    assert [f["id"] for f in files] == [file["id"]]
    with cloud.http("eu") as plain:
        assert plain.get(str(files[0]["download_url"])).content == NOTES


def test_the_trash_is_paginated(site: Site) -> None:
    made = [site.create_issue(f"page item {n}") for n in range(3)]
    for issue in made:
        assert site.request("DELETE", f"/rest/issues/issues/{issue['key']}").status_code == 204
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = site.request("GET", "/rest/issues/trash", params=params).json()
        assert len(page["items"]) <= 2
        seen += [item["item_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert {issue["id"] for issue in made} <= set(seen)
    assert len(seen) == len(set(seen))
    bad = site.request("GET", "/rest/issues/trash", params={"cursor": "not-a-cursor"})
    assert bad.status_code == 400, bad.text


def test_members_see_and_restore_only_their_own_deletions_and_viewers_nothing(
    cloud: Cloud,
) -> None:
    site = signup(cloud, region="us", prefix="trash-roles")
    site.create_project()
    member_id, member_email = add_account(site, "member")
    member = _as(site, token_for(site, member_email))
    _, viewer_email = add_account(site, "viewer")
    viewer = _as(site, token_for(site, viewer_email))
    mine = member.create_issue("the member's")
    admins = site.create_issue("the admin's")
    assert member.request("DELETE", f"/rest/issues/issues/{mine['key']}").status_code == 204
    assert site.request("DELETE", f"/rest/issues/issues/{admins['key']}").status_code == 204

    seen = member.request("GET", "/rest/issues/trash").json()["items"]
    assert [(i["item_id"], i["deleted_by"]) for i in seen] == [(mine["id"], member_id)]
    admin_entry = trash_item(site, admins["id"])
    refused = member.request("POST", f"/rest/issues/trash/{admin_entry['id']}/restore")
    _error(refused, 403, "admin_or_author_required")
    _error(
        member.request("DELETE", f"/rest/issues/trash/{admin_entry['id']}"), 403, "admin_required"
    )
    _error(viewer.request("GET", "/rest/issues/trash"), 403, "member_required")
    _error(
        viewer.request("POST", f"/rest/issues/trash/{admin_entry['id']}/restore"),
        403,
        "member_required",
    )
    # The admin sees everyone's deletions, and restores the member's.
    everyone = {i["item_id"] for i in site.request("GET", "/rest/issues/trash").json()["items"]}
    assert everyone == {mine["id"], admins["id"]}
    member_entry = trash_item(site, mine["id"])
    assert site.request("POST", f"/rest/issues/trash/{member_entry['id']}/restore").is_success
    assert member.request("GET", f"/rest/issues/issues/{mine['key']}").status_code == 200


def test_one_sites_trash_never_shows_restores_or_purges_anothers_item(cloud: Cloud) -> None:
    owner = signup(cloud, region="eu", prefix="trash-own")
    neighbour = signup(cloud, region="eu", prefix="trash-nb")  # likely the same shard's peer
    far = signup(cloud, region="us", prefix="trash-far")
    owner.create_project()
    issue = owner.create_issue("owner's secret")
    assert owner.request("DELETE", f"/rest/issues/issues/{issue['key']}").status_code == 204
    entry = trash_item(owner, issue["id"])
    for other in (neighbour, far):
        assert other.request("GET", "/rest/issues/trash").json()["items"] == []
        restore = other.request("POST", f"/rest/issues/trash/{entry['id']}/restore")
        _error(restore, 404, "trash_item_not_found")
        _error(
            other.request("DELETE", f"/rest/issues/trash/{entry['id']}"),
            404,
            "trash_item_not_found",
        )
    for bad in ("nope", "0" * 32, "Z" * 32):
        _error(
            owner.request("POST", f"/rest/issues/trash/{bad}/restore"), 404, "trash_item_not_found"
        )
    # Still there for its own site, which purges it for good.
    assert trash_item(owner, issue["id"])["id"] == entry["id"]
    assert owner.request("DELETE", f"/rest/issues/trash/{entry['id']}").status_code == 204
    assert owner.request("GET", "/rest/issues/trash").json()["items"] == []
    _error(owner.request("GET", f"/rest/issues/issues/{issue['key']}"), 404, "issue_not_found")
