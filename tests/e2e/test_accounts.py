"""Site membership and roles: admins add accounts, members cannot, and each sees only its site."""

from __future__ import annotations

from .api import PASSWORD, signup
from .cloud import Cloud


def test_admins_add_members_and_members_cannot(cloud: Cloud) -> None:
    site = signup(cloud, region="eu", prefix="team")
    email = f"dev@{site.name}.test"
    added = site.request(
        "POST", "/rest/identity/accounts", json={"email": email, "password": PASSWORD}
    )
    assert added.status_code == 201, added.text
    assert added.json()["role"] == "member"
    assert added.json()["active"] is True
    assert "password" not in added.text and "hash" not in added.text
    again = site.request(
        "POST", "/rest/identity/accounts", json={"email": email.upper(), "password": PASSWORD}
    )
    assert again.status_code == 409
    assert again.json()["error"] == "account_exists"

    login = site.http.post("/login", json={"site": site.name, "email": email, "password": PASSWORD})
    assert login.status_code == 200
    member = {"X-Tenantry-Site": site.name, "Authorization": f"Bearer {login.json()['token']}"}
    me = site.http.get("/rest/identity/me", headers=member)
    assert me.status_code == 200
    assert me.json() == {
        "account_id": added.json()["account_id"],
        "email": email,
        "display_name": None,
        "role": "member",
    }

    refused = site.http.post(
        "/rest/identity/accounts",
        headers=member,
        json={"email": f"x@{site.name}.test", "password": PASSWORD, "role": "admin"},
    )
    assert refused.status_code == 403
    assert refused.json()["error"] == "admin_required"
    assert site.http.get("/rest/identity/accounts", headers=member).status_code == 403

    listed = site.request("GET", "/rest/identity/accounts")
    assert sorted(account["email"] for account in listed.json()["accounts"]) == sorted(
        [f"admin@{site.name}.test", email]
    )

    # A member's issues name the member as reporter.
    site.create_project("DEV", "Dev")
    created = site.http.post(
        "/rest/issues/issues",
        headers=member,
        json={"project": "DEV", "summary": "mine", "description": ""},
    )
    assert created.status_code == 201
    assert created.json()["reporter"] == added.json()["account_id"]


def test_accounts_of_one_site_are_invisible_to_another(cloud: Cloud) -> None:
    first = signup(cloud, region="us", prefix="acc-a")
    second = signup(cloud, region="us", prefix="acc-b")
    listed = second.request("GET", "/rest/identity/accounts").json()["accounts"]
    assert [account["email"] for account in listed] == [f"admin@{second.name}.test"]
    # The first site's admin cannot log in to the second site with its own credentials.
    crossed = second.http.post(
        "/login",
        json={"site": second.name, "email": f"admin@{first.name}.test", "password": PASSWORD},
    )
    assert crossed.status_code == 401
