"""issues' export and erase steps for one account, driven in-process: what the account
reported, wrote and trashed is exported; erasing it leaves "former user", or with content
erased takes its comments and its issues' text, and never touches anyone else's."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from issues_harness import FixedDataKeys, build_app
from tenantry.platform.personal_data import FORMER_USER
from tenantry.platform.storage import Databases
from tenantry.services.issues.privacy_routes import build_privacy_router

PERSON = "a" * 32
NEIGHBOUR = "b" * 32
STEPS = "/internal/issues/personal-data"


class As:
    """A client acting as one admin of one tenant."""

    def __init__(self, client: TestClient, tenant: str, user: str) -> None:
        self.client = client
        self.headers = {"x-test-tenant": tenant, "x-test-shard": "eu-1", "x-test-user": user}

    def get(self, path: str) -> Any:
        return self.client.get(f"/rest/issues{path}", headers=self.headers)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.client.post(f"/rest/issues{path}", headers=self.headers, **kwargs)


@pytest.fixture
def steps_client(databases: Databases) -> Iterator[TestClient]:
    app = build_app(databases)
    app.include_router(build_privacy_router(databases, FixedDataKeys()))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def _work(steps_client: TestClient, tenant: str) -> tuple[As, As, str]:
    admin = As(steps_client, tenant, user="c" * 32)
    assert admin.post("/projects", json={"key": "OPS", "name": "Ops"}).status_code == 201
    person, neighbour = (As(steps_client, tenant, user=who) for who in (PERSON, NEIGHBOUR))
    mine = person.post("/issues", json={"project": "OPS", "summary": "mine", "description": "d"})
    assert mine.status_code == 201, mine.text
    theirs = neighbour.post(
        "/issues", json={"project": "OPS", "summary": "theirs", "description": ""}
    )
    key = theirs.json()["key"]
    for who, body in ((person, "my comment"), (neighbour, "their comment")):
        made = who.post(f"/issues/{key}/comments", json={"body": body})
        assert made.status_code == 201, made.text
    return person, neighbour, key


def _step(steps_client: TestClient, tenant: str, step: str, **body: str) -> dict[str, object]:
    answer = steps_client.post(
        f"{STEPS}/{step}", json=body, headers={"x-test-tenant": tenant, "x-test-shard": "eu-1"}
    )
    assert answer.status_code == 200, answer.text
    document: dict[str, object] = answer.json()
    return document


def test_the_export_step_holds_the_accounts_records_only(steps_client: TestClient) -> None:
    _work(steps_client, "t1")
    records = _step(steps_client, "t1", "export", account_id=PERSON)["records"]
    assert isinstance(records, dict)
    assert [i["summary"] for i in records["issues"]] == ["mine"]
    assert [c["body"] for c in records["comments"]] == ["my comment"]
    assert NEIGHBOUR not in str(records)


def test_erasing_keeps_content_as_a_former_users(steps_client: TestClient) -> None:
    _person, neighbour, key = _work(steps_client, "t2")
    done = _step(steps_client, "t2", "erase", account_id=PERSON, content="keep")
    assert done["service"] == "issues"
    comments = neighbour.get(f"/issues/{key}/comments").json()["comments"]
    assert {c["body"]: c["author"] for c in comments} == {
        "my comment": FORMER_USER,
        "their comment": NEIGHBOUR,
    }
    reporters = {i["summary"]: i["reporter"] for i in neighbour.get("/issues").json()["issues"]}
    assert reporters == {"mine": FORMER_USER, "theirs": NEIGHBOUR}
    assert PERSON not in str(_step(steps_client, "t2", "export", account_id=PERSON))


def test_erasing_content_takes_comments_and_text(steps_client: TestClient) -> None:
    _person, neighbour, key = _work(steps_client, "t3")
    _step(steps_client, "t3", "erase", account_id=PERSON, content="erase")
    comments = neighbour.get(f"/issues/{key}/comments").json()["comments"]
    assert [c["body"] for c in comments] == ["their comment"]
    issues = {i["reporter"]: i for i in neighbour.get("/issues").json()["issues"]}
    assert (issues[FORMER_USER]["summary"], issues[FORMER_USER]["description"]) == ("", "")
    assert issues[NEIGHBOUR]["summary"] == "theirs"


def test_a_step_without_a_tenant_is_refused(steps_client: TestClient) -> None:
    answer = steps_client.post(f"{STEPS}/export", json={"account_id": PERSON})
    assert answer.status_code == 400
    assert answer.json()["error"] == "tenant_required"
