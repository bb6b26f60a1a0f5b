"""Small helpers to act as a customer against a running cloud's edges."""

from __future__ import annotations

import itertools
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from .cloud import Cloud

PASSWORD = "correct horse battery staple"
_counter = itertools.count(1)


def unique_site(prefix: str) -> str:
    """A site name no other test in this run uses."""
    return f"{prefix}-{os.getpid()}-{next(_counter)}"


@dataclass
class Site:
    """A signed-up site with its admin's token, talking through one region's edge."""

    name: str
    cloud_id: str
    region: str
    token: str
    http: httpx.Client

    def headers(self, token: str | None = None) -> dict[str, str]:
        """Headers that name this site and carry its admin's token."""
        return {"X-Tenantry-Site": self.name, "Authorization": f"Bearer {token or self.token}"}

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send a request as this site's admin."""
        headers = {**self.headers(), **kwargs.pop("headers", {})}
        return self.http.request(method, path, headers=headers, **kwargs)

    def create_project(self, key: str = "OPS", name: str = "Ops") -> None:
        """Create a project, asserting the 201."""
        made = self.request("POST", "/rest/issues/projects", json={"key": key, "name": name})
        assert made.status_code == 201, made.text

    def create_issue(self, summary: str, description: str = "", project: str = "OPS") -> Any:
        """Create an issue, asserting the 201; the issue as the API returned it."""
        created = self.request(
            "POST",
            "/rest/issues/issues",
            json={"project": project, "summary": summary, "description": description},
        )
        assert created.status_code == 201, created.text
        return created.json()

    def via(self, http: httpx.Client) -> Site:
        """The same site and token, talking through another edge."""
        return Site(self.name, self.cloud_id, self.region, self.token, http)


def signup(
    cloud: Cloud,
    *,
    region: str | None = None,
    users: dict[str, int] | None = None,
    via: str = "us",
    prefix: str = "site",
) -> Site:
    """Sign a new site up through the `via` edge and log its admin in."""
    http = cloud.http(via)
    name = unique_site(prefix)
    body: dict[str, Any] = {"site": name, "email": f"admin@{name}.test", "password": PASSWORD}
    if region is not None:
        body["region"] = region
    else:
        body["users_by_country"] = users or {"US": 1}
    created = http.post("/signup", json=body)
    assert created.status_code == 201, created.text
    document = created.json()
    assert set(document) == {"site", "cloud_id", "region"}
    site = Site(name, document["cloud_id"], document["region"], "", http)
    return log_in(site, http)


def add_account(site: Site, role: str = "member") -> tuple[str, str]:
    """A new account of `site` with `role`, added by its admin; its id and email."""
    email = f"{role}-{uuid.uuid4().hex[:8]}@{site.name}.test"
    made = site.request(
        "POST", "/rest/identity/accounts", json={"email": email, "password": PASSWORD, "role": role}
    )
    assert made.status_code == 201, made.text
    return str(made.json()["account_id"]), email


def token_for(site: Site, email: str, password: str = PASSWORD) -> str:
    """A fresh user token of the account `email` of `site`, through the site's edge."""
    login = site.http.post("/login", json={"site": site.name, "email": email, "password": password})
    assert login.status_code == 200, login.text
    return str(login.json()["token"])


def trash_item(site: Site, item_id: str) -> dict[str, Any]:
    """The entry of the site's trash that holds the issue, comment or attachment `item_id`."""
    listed = site.request("GET", "/rest/issues/trash", params={"limit": "100"})
    assert listed.status_code == 200, listed.text
    found = [item for item in listed.json()["items"] if item["item_id"] == item_id]
    assert len(found) == 1, listed.json()
    entry: dict[str, Any] = found[0]
    return entry


def purge_from_trash(site: Site, item_id: str) -> None:
    """Purge the trashed `item_id` for good now, as the site's admin."""
    purged = site.request("DELETE", f"/rest/issues/trash/{trash_item(site, item_id)['id']}")
    assert purged.status_code == 204, purged.text


def eventually(what: str, probe: Callable[[], bool], seconds: float = 10.0) -> None:
    """Wait until `probe()` holds (a change that travels to every edge), giving up loudly."""
    deadline = time.monotonic() + seconds
    while not probe():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


def log_in(site: Site, http: httpx.Client) -> Site:
    """Log the site's admin in again through `http` (another edge, or a restarted cloud)."""
    login = http.post(
        "/login",
        json={"site": site.name, "email": f"admin@{site.name}.test", "password": PASSWORD},
    )
    assert login.status_code == 200, login.text
    return Site(site.name, site.cloud_id, site.region, login.json()["token"], http)


def work_on_issues(site: Site) -> None:
    """A project, an issue taken through the workflow, a comment and a listing, as `site`."""
    site.create_project()
    issue = site.create_issue("Disk full", "on db-1")
    assert issue["key"] == "OPS-1"
    assert issue["status"] == "To Do"

    read = site.request("GET", "/rest/issues/issues/OPS-1")
    assert read.status_code == 200
    assert read.json()["summary"] == "Disk full"

    moved = site.request("PATCH", "/rest/issues/issues/OPS-1", json={"status": "In Progress"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["status"] == "In Progress"
    done = site.request("PATCH", "/rest/issues/issues/OPS-1", json={"status": "Done"})
    assert done.json()["status"] == "Done"
    refused = site.request("PATCH", "/rest/issues/issues/OPS-1", json={"status": "To Do"})
    assert refused.status_code == 409
    assert refused.json()["error"] == "transition_not_allowed"

    comment = site.request(
        "POST", "/rest/issues/issues/OPS-1/comments", json={"body": "cleaned up /var/log"}
    )
    assert comment.status_code == 201, comment.text
    assert comment.json()["body"] == "cleaned up /var/log"

    listed = site.request("GET", "/rest/issues/issues", params={"project": "OPS", "status": "Done"})
    assert listed.status_code == 200
    assert [row["key"] for row in listed.json()["issues"]] == ["OPS-1"]
