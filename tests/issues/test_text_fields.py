"""Every text field of issues follows the platform's text rule: one-line fields (project names,
summaries, assignees) refuse control, bidi and line-break characters; multi-line fields
(descriptions, comments) allow tabs and line breaks only. A refusal is a 422 and stores nothing.
"""

from __future__ import annotations

from typing import Any

import pytest

HOSTILE = ["nul\x00", "\x1b[31mred\u202e", "\x1b]8;;https://evil.test\x07link", "rtl\u202etxt.exe"]
LINE_BREAKS = ["two\nlines", "crlf\r\nline", "tab\tbed"]


def refused(response: Any) -> None:
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_request"
    assert "must not contain" in response.json()["message"]


@pytest.mark.parametrize("value", HOSTILE + LINE_BREAKS)
def test_one_line_fields_refuse_control_bidi_and_line_breaks(alice: Any, value: str) -> None:
    refused(alice.post("/projects", json={"key": "OPS", "name": value}))
    alice.project()
    new = {"project": "OPS", "summary": "fine", "description": ""}
    refused(alice.post("/issues", json={**new, "summary": value}))
    refused(alice.post("/issues", json={**new, "assignee": value}))
    issue = alice.issue(summary="kept")
    refused(alice.patch(f"/issues/{issue['key']}", json={"summary": value}))
    refused(alice.patch(f"/issues/{issue['key']}", json={"assignee": value}))
    assert alice.get(f"/issues/{issue['key']}").json() == issue
    assert [i["key"] for i in alice.get("/issues").json()["issues"]] == [issue["key"]]
    assert alice.get("/projects").json() == {"projects": [{"key": "OPS", "name": "Operations"}]}


@pytest.mark.parametrize("value", HOSTILE)
def test_multi_line_fields_refuse_control_and_bidi_characters(alice: Any, value: str) -> None:
    alice.project()
    issue = alice.issue(description="kept")
    refused(alice.post("/issues", json={"project": "OPS", "summary": "s", "description": value}))
    refused(alice.patch(f"/issues/{issue['key']}", json={"description": value}))
    refused(alice.post(f"/issues/{issue['key']}/comments", json={"body": value}))
    assert alice.get(f"/issues/{issue['key']}").json() == issue
    assert alice.get(f"/issues/{issue['key']}/comments").json()["comments"] == []


@pytest.mark.parametrize("value", LINE_BREAKS)
def test_multi_line_fields_keep_tabs_and_line_breaks(alice: Any, value: str) -> None:
    alice.project()
    issue = alice.issue(description=value)
    assert issue["description"] == value
    comment = alice.post(f"/issues/{issue['key']}/comments", json={"body": value})
    assert comment.status_code == 201 and comment.json()["body"] == value


def test_text_of_every_script_is_kept(alice: Any) -> None:
    name = "Équipe 東京 العربية 😀"
    assert alice.post("/projects", json={"key": "OPS", "name": name}).status_code == 201
    issue = alice.issue(summary=name, description=name)
    assert (issue["summary"], issue["description"]) == (name, name)
