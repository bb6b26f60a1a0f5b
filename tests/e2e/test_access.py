"""Access that holds: roles count as they are now, and revoked tokens stop at every edge.

Through the edges of a real cloud: a demoted admin keeps a member's powers and loses every
admin route of every service at once, whatever its token said; deleting or deactivating an
account, a logout and a password change make every edge refuse the tokens they revoke. The
edge a change was made through answers it only once it acts on it, so the very next request
there sees it; the other edges follow within moments (waited for here, never timed).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from media_previews.documents import png

from .api import PASSWORD, Site, add_account, eventually, signup, token_for
from .cloud import Cloud

pytestmark = pytest.mark.e2e


def as_token(site: Site, token: str, http: httpx.Client | None = None) -> Site:
    """The same site, acting with `token` (through `http`, another edge, if given)."""
    return Site(site.name, site.cloud_id, site.region, token, http or site.http)


def refused_with(response: httpx.Response, status: int, reason: str) -> bool:
    return response.status_code == status and response.json()["error"] == reason


def issue_count(site: Site) -> int:
    listed = site.request("GET", "/rest/issues/issues", params={"project": "OPS"})
    assert listed.status_code == 200, listed.text
    return len(listed.json()["issues"])


def test_a_demoted_admin_is_refused_on_every_admin_route_of_every_service(cloud: Cloud) -> None:
    site = signup(cloud, region="eu", via="eu", prefix="demote")
    site.create_project()
    owner_issue = site.create_issue("the owner's issue")["key"]
    attached = site.request(
        "POST",
        f"/rest/issues/issues/{owner_issue}/attachments",
        files={"file": ("plan.png", png(), "image/png")},
    )
    assert attached.status_code == 201, attached.text
    assert (
        site.request("PATCH", "/rest/media/settings", json={"view_only": True}).status_code == 200
    )

    deputy_id, deputy_email = add_account(site, "admin")
    deputy = as_token(site, token_for(site, deputy_email))
    assert deputy.request("GET", "/rest/identity/accounts").status_code == 200
    links = deputy.request("GET", f"/rest/issues/issues/{owner_issue}/attachments")
    (link,) = links.json()["attachments"]
    with cloud.http("eu") as plain:
        assert plain.get(link["download_url"]).content == png()  # an admin's link downloads

    demoted = site.request("PATCH", f"/rest/identity/accounts/{deputy_id}", json={"role": "member"})
    assert demoted.status_code == 200, demoted.text

    # At once, the token issued while it was an admin, on every admin route of every service:
    admin_routes: list[tuple[str, str, Any]] = [
        ("GET", "/rest/identity/accounts", None),
        ("POST", "/rest/identity/accounts", {"email": f"x@{site.name}.test", "password": PASSWORD}),
        ("PATCH", f"/rest/identity/accounts/{deputy_id}", {"role": "admin"}),
        ("DELETE", f"/rest/identity/accounts/{deputy_id}", None),
        ("POST", "/rest/issues/projects", {"key": "NEW", "name": "New"}),
        ("DELETE", "/rest/issues/projects/OPS", None),
        ("PATCH", "/rest/media/settings", {"view_only": False}),
        (
            "PUT",
            "/rest/media/settings",
            {"view_only": False, "max_file_bytes": None, "quota_bytes": None},
        ),
    ]
    for method, path, body in admin_routes:
        answer = deputy.request(method, path, json=body)
        assert refused_with(answer, 403, "admin_required"), (method, path, answer.text)
    someone_elses = deputy.request("DELETE", f"/rest/issues/issues/{owner_issue}")
    assert refused_with(someone_elses, 403, "admin_or_author_required"), someone_elses.text
    with cloud.http("eu") as plain:
        # A link listed while it was an admin counts with the account's role now.
        download = plain.get(link["download_url"])
        assert refused_with(download, 403, "view_only"), download.text

    # Nothing changed, and the account keeps what a member may do, with the same token.
    assert site.request("GET", "/rest/media/settings").json()["view_only"] is True
    roles = {
        a["account_id"]: a["role"]
        for a in site.request("GET", "/rest/identity/accounts").json()["accounts"]
    }
    assert roles[deputy_id] == "member"
    assert (
        deputy.request(
            "POST",
            "/rest/issues/issues",
            json={"project": "OPS", "summary": "still a member", "description": ""},
        ).status_code
        == 201
    )


def test_a_deleted_accounts_token_is_refused_on_every_edge(cloud: Cloud) -> None:
    site = signup(cloud, region="us", via="us", prefix="gone")
    site.create_project()
    account_id, email = add_account(site)
    token = token_for(site, email)
    edges = {region: as_token(site, token, cloud.http(region)) for region in ("us", "eu", "au")}
    for region, member in edges.items():  # every edge holds the account as it is now
        made = member.request(
            "POST",
            "/rest/issues/issues",
            json={"project": "OPS", "summary": f"via {region}", "description": ""},
        )
        assert made.status_code == 201, made.text
    before = issue_count(site)

    removed = site.request("DELETE", f"/rest/identity/accounts/{account_id}")
    assert removed.status_code == 204, removed.text
    write = {"project": "OPS", "summary": "after my removal", "description": ""}
    # The edge the removal went through refuses the very next write.
    refused = edges["us"].request("POST", "/rest/issues/issues", json=write)
    assert refused_with(refused, 401, "token_revoked"), refused.text
    for region, member in edges.items():
        eventually(
            f"the {region} edge to refuse a deleted account's token",
            lambda member=member: refused_with(
                member.request("GET", "/rest/identity/me"), 401, "token_revoked"
            ),
        )
        for method, path, body in (
            ("POST", "/rest/issues/issues", write),
            ("DELETE", "/rest/issues/issues/OPS-1", None),
        ):
            answer = member.request(method, path, json=body)
            assert refused_with(answer, 401, "token_revoked"), (region, answer.text)
    assert issue_count(site) == before  # no write of the deleted account got through

    # Deleted is undoable by an admin within the grace period: the account logs in anew, its
    # old token stays dead; no one else may bring it back.
    _, other_email = add_account(site)
    other = as_token(site, token_for(site, other_email))
    refused = other.request("POST", f"/rest/identity/accounts/{account_id}/restore")
    assert refused_with(refused, 403, "admin_required"), refused.text
    restored = site.request("POST", f"/rest/identity/accounts/{account_id}/restore")
    assert restored.status_code == 200, restored.text
    assert (restored.json()["active"], restored.json()["deleted"]) == (True, False)
    assert refused_with(edges["us"].request("GET", "/rest/identity/me"), 401, "token_revoked")
    back = as_token(site, token_for(site, email))
    assert back.request("POST", "/rest/issues/issues", json=write).status_code == 201


def test_logout_revokes_the_token_it_carries_and_no_other(cloud: Cloud) -> None:
    site = signup(cloud, region="au", via="au", prefix="logout")
    _, email = add_account(site)
    first, second = token_for(site, email), token_for(site, email)
    assert as_token(site, first).request("GET", "/rest/identity/me").status_code == 200

    out = as_token(site, first).request("POST", "/logout")
    assert out.status_code == 204, out.text
    again = as_token(site, first).request("GET", "/rest/identity/me")
    assert refused_with(again, 401, "token_revoked"), again.text
    for region in ("au", "us"):
        reused = as_token(site, first, cloud.http(region))
        eventually(
            f"the {region} edge to refuse a logged-out token",
            lambda reused=reused: refused_with(
                reused.request("GET", "/rest/identity/me"), 401, "token_revoked"
            ),
        )
        assert refused_with(reused.request("POST", "/logout"), 401, "token_revoked")
    other = as_token(site, second).request("GET", "/rest/identity/me")
    assert other.status_code == 200 and other.json()["email"] == email
    anonymous = site.http.post("/logout", headers={"X-Tenantry-Site": site.name})
    assert refused_with(anonymous, 401, "token_missing")


def test_deactivation_revokes_and_stops_logins_until_reactivated(cloud: Cloud) -> None:
    site = signup(cloud, region="eu", via="eu", prefix="deact")
    account_id, email = add_account(site)
    member = as_token(site, token_for(site, email))
    assert member.request("GET", "/rest/identity/me").status_code == 200
    off = site.request("PATCH", f"/rest/identity/accounts/{account_id}", json={"active": False})
    assert off.status_code == 200 and off.json()["active"] is False, off.text
    refused = member.request("GET", "/rest/identity/me")
    assert refused_with(refused, 401, "token_revoked"), refused.text
    login = {"site": site.name, "email": email, "password": PASSWORD}
    assert refused_with(site.http.post("/login", json=login), 403, "account_deactivated")
    wrong = site.http.post("/login", json={**login, "password": "not the password"})
    assert refused_with(wrong, 401, "invalid_credentials")  # says nothing of the account

    on = site.request("PATCH", f"/rest/identity/accounts/{account_id}", json={"active": True})
    assert on.status_code == 200 and on.json()["active"] is True
    again = as_token(site, token_for(site, email))
    assert again.request("GET", "/rest/identity/me").status_code == 200
    assert refused_with(member.request("GET", "/rest/identity/me"), 401, "token_revoked")


def test_a_password_change_revokes_every_token_of_the_account(cloud: Cloud) -> None:
    site = signup(cloud, region="us", via="us", prefix="passwd")
    _, email = add_account(site)
    first, second = token_for(site, email), token_for(site, email)
    change = "/rest/identity/me/password"
    wrong = as_token(site, first).request(
        "POST", change, json={"current_password": "not it", "new_password": "a new passphrase"}
    )
    assert refused_with(wrong, 403, "wrong_password")
    changed = as_token(site, first).request(
        "POST", change, json={"current_password": PASSWORD, "new_password": "a new passphrase"}
    )
    assert changed.status_code == 200, changed.text
    fresh = changed.json()["token"]
    for old in (first, second):
        refused = as_token(site, old).request("GET", "/rest/identity/me")
        assert refused_with(refused, 401, "token_revoked"), refused.text
    assert as_token(site, fresh).request("GET", "/rest/identity/me").status_code == 200
    old_login = {"site": site.name, "email": email, "password": PASSWORD}
    assert site.http.post("/login", json=old_login).status_code == 401
    token_for(site, email, "a new passphrase")


def test_viewers_read_members_write_admins_manage(cloud: Cloud) -> None:
    site = signup(cloud, region="eu", via="eu", prefix="roles")
    site.create_project()
    admins_issue = site.create_issue("the admin's")["key"]
    _, viewer_email = add_account(site, "viewer")
    _, member_email = add_account(site, "member")
    viewer = as_token(site, token_for(site, viewer_email))
    member = as_token(site, token_for(site, member_email))

    # A viewer reads and nothing more.
    assert viewer.request("GET", f"/rest/issues/issues/{admins_issue}").status_code == 200
    assert viewer.request("GET", "/rest/issues/projects").status_code == 200
    assert (
        viewer.request("GET", f"/rest/issues/issues/{admins_issue}/attachments").status_code == 200
    )
    new_issue = {"project": "OPS", "summary": "a viewer's", "description": ""}
    for method, path, body in (
        ("POST", "/rest/issues/issues", new_issue),
        ("PATCH", f"/rest/issues/issues/{admins_issue}", {"summary": "renamed"}),
        ("POST", f"/rest/issues/issues/{admins_issue}/comments", {"body": "hi"}),
        ("DELETE", f"/rest/issues/issues/{admins_issue}", None),
    ):
        answer = viewer.request(method, path, json=body)
        assert refused_with(answer, 403, "member_required"), (method, path, answer.text)
    upload = viewer.request(
        "POST",
        f"/rest/issues/issues/{admins_issue}/attachments",
        files={"file": ("a.png", png(), "image/png")},
    )
    assert refused_with(upload, 403, "member_required"), upload.text

    # A member creates, edits and comments; deletes its own issue, not others'.
    mine = member.request("POST", "/rest/issues/issues", json=new_issue)
    assert mine.status_code == 201, mine.text
    edited = member.request(
        "PATCH", f"/rest/issues/issues/{admins_issue}", json={"status": "In Progress"}
    )
    assert edited.status_code == 200, edited.text
    comment = member.request(
        "POST", f"/rest/issues/issues/{admins_issue}/comments", json={"body": "on it"}
    )
    assert comment.status_code == 201
    project = member.request("POST", "/rest/issues/projects", json={"key": "WEB", "name": "Web"})
    assert refused_with(project, 403, "admin_required")
    theirs = member.request("DELETE", f"/rest/issues/issues/{admins_issue}")
    assert refused_with(theirs, 403, "admin_or_author_required")
    assert member.request("DELETE", f"/rest/issues/issues/{mine.json()['key']}").status_code == 204

    # Only an admin deletes a project, and only an empty one.
    full = site.request("DELETE", "/rest/issues/projects/OPS")
    assert refused_with(full, 409, "project_not_empty")
    site.create_project("TMP", "Temporary")
    assert site.request("DELETE", "/rest/issues/projects/TMP").status_code == 204
    assert site.request("GET", "/rest/issues/projects/TMP").status_code == 404
    assert site.request("DELETE", f"/rest/issues/issues/{admins_issue}").status_code == 204


def test_an_assignee_must_be_an_account_of_the_site(cloud: Cloud) -> None:
    site = signup(cloud, region="us", via="us", prefix="assign")
    other = signup(cloud, region="us", via="us", prefix="assign-other")
    site.create_project()
    account_id, _ = add_account(site)
    outsider, _ = add_account(other)
    body = {"project": "OPS", "summary": "assigned", "description": ""}
    for assignee in ("nonsense", "0" * 32, outsider):
        refused = site.request("POST", "/rest/issues/issues", json={**body, "assignee": assignee})
        assert refused_with(refused, 422, "unknown_assignee"), (assignee, refused.text)
    made = site.request("POST", "/rest/issues/issues", json={**body, "assignee": account_id})
    assert made.status_code == 201 and made.json()["assignee"] == account_id, made.text
    key = made.json()["key"]
    moved = site.request("PATCH", f"/rest/issues/issues/{key}", json={"assignee": outsider})
    assert refused_with(moved, 422, "unknown_assignee")
    assert (
        site.request("PATCH", f"/rest/issues/issues/{key}", json={"assignee": None}).json()[
            "assignee"
        ]
        is None
    )
