"""Every input gets a clear answer through the edge of a real cloud: hostile text, huge numbers,
forged or borrowed cursors and partial settings are refused with a status and a reason, never a
500 or a 503, and nothing is stored or changed by them."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from .api import Site, signup
from .cloud import Cloud

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def site(cloud: Cloud) -> Site:
    made = signup(cloud, region="eu", prefix="inputs")
    made.create_project()
    for number in range(3):
        made.create_issue(f"Issue {number}")
    return made


def refused(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == code, response.text
    assert set(response.json()) == {"error", "message"}


@pytest.mark.parametrize(
    "summary",
    ["\x1b[31mred\u202e", "nul\x00byte", "two\nlines", "\u202etxt.exe", "c1 \x9b csi"],
)
def test_hostile_one_line_text_is_refused(site: Site, summary: str) -> None:
    before = site.request("GET", "/rest/issues/issues").json()["issues"]
    made = site.request(
        "POST",
        "/rest/issues/issues",
        json={"project": "OPS", "summary": summary, "description": ""},
    )
    refused(made, 422, "invalid_request")
    renamed = site.request("PATCH", "/rest/issues/issues/OPS-1", json={"summary": summary})
    refused(renamed, 422, "invalid_request")
    project = site.request("POST", "/rest/issues/projects", json={"key": "EVIL", "name": summary})
    refused(project, 422, "invalid_request")
    assert site.request("GET", "/rest/issues/issues").json()["issues"] == before


def test_descriptions_and_comments_keep_line_breaks_but_not_escapes(site: Site) -> None:
    kept = site.create_issue("Multi-line", "first line\r\n\tsecond line")
    assert kept["description"] == "first line\r\n\tsecond line"
    comment = site.request(
        "POST", f"/rest/issues/issues/{kept['key']}/comments", json={"body": "\x1b[2Jcleared"}
    )
    refused(comment, 422, "invalid_request")


def raw_cursor(parts: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(parts).encode()).decode().rstrip("=")


def test_forged_cursors_are_400_and_huge_numbers_never_reach_storage(site: Site) -> None:
    page = site.request("GET", "/rest/issues/issues", params={"limit": 1}).json()
    tag = page["next_cursor"].split(".", 1)[1]
    for forged in (
        raw_cursor(["OPS", 10**30]),
        raw_cursor(["OPS", 10**30]) + "." + tag,
        raw_cursor(["OPS", 1]),
        "nonsense",
    ):
        listed = site.request("GET", "/rest/issues/issues", params={"cursor": forged})
        refused(listed, 400, "bad_cursor")
    assert site.request("GET", "/rest/issues/issues/OPS-99999999999").status_code == 422
    refused(site.request("GET", "/rest/issues/issues/OPS-9999999999"), 404, "issue_not_found")


def test_a_cursor_of_one_site_is_refused_by_another(cloud: Cloud, site: Site) -> None:
    cursor = site.request("GET", "/rest/issues/issues", params={"limit": 1}).json()["next_cursor"]
    assert site.request("GET", "/rest/issues/issues", params={"cursor": cursor}).status_code == 200
    other = signup(cloud, region="eu", prefix="inputs-other")
    other.create_project()
    other.create_issue("Theirs")
    refused(
        other.request("GET", "/rest/issues/issues", params={"cursor": cursor}), 400, "bad_cursor"
    )


def test_media_settings_are_changed_only_as_asked(site: Site) -> None:
    defaults = site.request("GET", "/rest/media/settings").json()
    huge = site.request("PATCH", "/rest/media/settings", json={"max_file_bytes": 10**20})
    refused(huge, 422, "above_operator_limit")
    refused(
        site.request("PATCH", "/rest/media/settings", json={"view_only": "yes"}),
        422,
        "invalid_request",
    )
    viewed = site.request("PATCH", "/rest/media/settings", json={"view_only": True})
    assert viewed.status_code == 200, viewed.text
    quota = site.request("PATCH", "/rest/media/settings", json={"quota_bytes": 1024 * 1024})
    assert quota.json() == {**defaults, "view_only": True, "quota_bytes": 1024 * 1024}
    partial = site.request("PUT", "/rest/media/settings", json={"quota_bytes": 2048})
    refused(partial, 422, "invalid_request")
    assert site.request("GET", "/rest/media/settings").json()["view_only"] is True
    whole = site.request(
        "PUT",
        "/rest/media/settings",
        json={"view_only": False, "max_file_bytes": None, "quota_bytes": None},
    )
    assert whole.status_code == 200 and whole.json() == defaults
