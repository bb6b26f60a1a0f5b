"""Random work by three tenants on one shard never shows one tenant another's issues.

A hypothesis state machine drives the issues API as three tenants at random (projects, issues,
reads by key and by id, edits, workflow moves, deletes, comments, filtered listings), reaching
for the others' keys and ids as often as for its own. It keeps a model of what each tenant owns
and checks every answer against it: no body ever holds another tenant's id, summary,
description, comment or user; another tenant's id is 404, and so is another tenant's key unless
the reader has an issue of that key itself; a listing is exactly the tenant's own live issues.
Every stored text is a unique marker, so any leak is found by a plain substring search.
Both storage backends run it: SQLite, and PostgreSQL with row-level security behind the session.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    rule,
    run_state_machine_as_test,
)

from backends import BACKENDS, fresh_databases
from issues_harness import build_app
from tenantry.platform.storage import Databases
from tenantry.services.issues.models import SCHEMA
from tenantry.services.issues.workflow import TRANSITIONS

SHARD = "eu-1"
PROJECT_KEYS = ("OPS", "SEC", "WEB")
STATUSES = ("To Do", "In Progress", "Done")
LABELS = ("red", "blue")
SETTINGS = settings(
    max_examples=25,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

tenants = st.integers(min_value=0, max_value=2)
picks = st.integers(min_value=0, max_value=1_000)
owners = st.none() | tenants  # None: the actor's own issues (half the draws)
limits = st.integers(min_value=1, max_value=4)


@dataclass
class IssueModel:
    """What one issue should look like to its own tenant."""

    key: str
    id: str
    project: str
    number: int
    summary: str
    description: str
    assignee: str | None
    labels: list[str]
    status: str = "To Do"
    comments: list[str] = field(default_factory=list)
    live: bool = True

    def matches(self, body: dict[str, Any]) -> bool:
        return (
            body["key"],
            body["id"],
            body["project"],
            body["summary"],
            body["description"],
            body["status"],
            body["assignee"],
            sorted(body["labels"]),
        ) == (
            self.key,
            self.id,
            self.project,
            self.summary,
            self.description,
            self.status,
            self.assignee,
            sorted(self.labels),
        )


@dataclass
class TenantModel:
    """One tenant, its user, what it owns now, and every value it has ever stored."""

    name: str
    user: str
    projects: dict[str, int] = field(default_factory=dict)  # key -> next issue number
    issues: dict[str, IssueModel] = field(default_factory=dict)  # by key, deleted ones too
    values: set[str] = field(default_factory=set)

    @property
    def headers(self) -> dict[str, str]:
        return {"x-test-tenant": self.name, "x-test-user": self.user, "x-test-shard": SHARD}

    def live_issue(self, key: str) -> IssueModel | None:
        issue = self.issues.get(key)
        return issue if issue is not None and issue.live else None


class IsolationMachine(RuleBasedStateMachine):
    """Three tenants at random on one shared app; each run has tenants of its own."""

    client: ClassVar[TestClient]

    def __init__(self) -> None:
        super().__init__()
        run = uuid.uuid4().hex[:10]
        self.tenants = [TenantModel(f"tenant.{run}.{n}", f"user.{run}.{n}~") for n in range(3)]
        for tenant in self.tenants:
            tenant.values.add(tenant.user)
        self.counter = 0

    # -- helpers ---------------------------------------------------------------------------

    def marker(self, kind: str, tenant: TenantModel) -> str:
        """A value no other value contains: fixed-width counter, closed by `~`."""
        self.counter += 1
        value = f"{kind}-{tenant.name}-{self.counter:06d}~"
        tenant.values.add(value)
        return value

    def call(self, tenant: TenantModel, method: str, path: str, **kwargs: Any) -> Any:
        """Send one request as `tenant` and check that the answer holds nothing of the others."""
        response = self.client.request(
            method, f"/rest/issues{path}", headers=tenant.headers, **kwargs
        )
        assert response.status_code < 500, response.text
        for other in self.tenants:
            if other is not tenant:
                leaked = sorted(v for v in other.values if v in response.text)
                assert not leaked, f"{tenant.name} saw {other.name}'s {leaked}: {response.text}"
        return response

    def target(
        self, actor: TenantModel, owner: TenantModel, pick: int, by_id: bool
    ) -> tuple[str, IssueModel | None] | None:
        """A reference to one of `owner`'s issues (live or not), and what `actor` reaches by it.

        An id reaches only its own tenant's live issue. A key reaches the actor's own live issue
        of that key, whoever's key it was drawn from.
        """
        issues = sorted(owner.issues.values(), key=lambda i: (i.project, i.number))
        if not issues:
            return None
        issue = issues[pick % len(issues)]
        if by_id:
            return issue.id, issue if owner is actor and issue.live else None
        return issue.key, actor.live_issue(issue.key)

    def owner(self, actor: int, owner: int | None) -> TenantModel:
        return self.tenants[actor if owner is None else owner]

    @staticmethod
    def assert_not_found(response: Any) -> None:
        assert response.status_code == 404, response.text
        assert response.json()["error"] == "issue_not_found", response.text

    # -- rules -----------------------------------------------------------------------------

    @initialize()
    def every_tenant_starts_with_ops_1(self) -> None:
        """Each tenant has its own OPS-1 at once, so keys collide across tenants from the start."""
        for t in range(len(self.tenants)):
            self.create_project(t, "OPS")
            self.create_issue(t, "OPS", [], False)

    @rule(t=tenants, key=st.sampled_from(PROJECT_KEYS))
    def create_project(self, t: int, key: str) -> None:
        tenant = self.tenants[t]
        response = self.call(tenant, "POST", "/projects", json={"key": key, "name": key.title()})
        if key in tenant.projects:
            assert response.status_code == 409, response.text
        else:
            assert response.status_code == 201, response.text
            tenant.projects[key] = 1

    @rule(
        t=tenants,
        project=st.sampled_from(PROJECT_KEYS),
        labels=st.lists(st.sampled_from(LABELS), unique=True),
        assigned=st.booleans(),
    )
    def create_issue(self, t: int, project: str, labels: list[str], assigned: bool) -> None:
        tenant = self.tenants[t]
        summary, description = self.marker("summary", tenant), self.marker("description", tenant)
        assignee = tenant.user if assigned else None
        body = {
            "project": project,
            "summary": summary,
            "description": description,
            "assignee": assignee,
            "labels": labels,
        }
        response = self.call(tenant, "POST", "/issues", json=body)
        if project not in tenant.projects:
            assert response.status_code == 404, response.text
            assert response.json()["error"] == "project_not_found"
            return
        assert response.status_code == 201, response.text
        made = response.json()
        number = tenant.projects[project]
        tenant.projects[project] = number + 1
        issue = IssueModel(
            f"{project}-{number}",
            made["id"],
            project,
            number,
            summary,
            description,
            assignee,
            labels,
        )
        tenant.values.add(issue.id)
        tenant.issues[issue.key] = issue
        assert issue.matches(made), made
        assert made["reporter"] == tenant.user

    @rule(actor=tenants, owner=owners, pick=picks, by_id=st.booleans())
    def read_issue(self, actor: int, owner: int | None, pick: int, by_id: bool) -> None:
        found = self.target(self.tenants[actor], self.owner(actor, owner), pick, by_id)
        if found is None:
            return
        ref, expected = found
        response = self.call(self.tenants[actor], "GET", f"/issues/{ref}")
        if expected is None:
            self.assert_not_found(response)
        else:
            assert response.status_code == 200, response.text
            assert expected.matches(response.json()), response.text

    @rule(actor=tenants, owner=owners, pick=picks, by_id=st.booleans())
    def edit_summary(self, actor: int, owner: int | None, pick: int, by_id: bool) -> None:
        tenant = self.tenants[actor]
        found = self.target(tenant, self.owner(actor, owner), pick, by_id)
        if found is None:
            return
        ref, expected = found
        summary, description = self.marker("summary", tenant), self.marker("description", tenant)
        body = {"summary": summary, "description": description}
        response = self.call(tenant, "PATCH", f"/issues/{ref}", json=body)
        if expected is None:
            self.assert_not_found(response)
            return
        assert response.status_code == 200, response.text
        expected.summary, expected.description = summary, description
        assert expected.matches(response.json()), response.text

    @rule(
        actor=tenants,
        owner=owners,
        pick=picks,
        by_id=st.booleans(),
        status=st.sampled_from(STATUSES),
    )
    def move(self, actor: int, owner: int | None, pick: int, by_id: bool, status: str) -> None:
        tenant = self.tenants[actor]
        found = self.target(tenant, self.owner(actor, owner), pick, by_id)
        if found is None:
            return
        ref, expected = found
        response = self.call(tenant, "PATCH", f"/issues/{ref}", json={"status": status})
        if expected is None:
            self.assert_not_found(response)
        elif status == expected.status or (expected.status, status) in TRANSITIONS:
            assert response.status_code == 200, response.text
            expected.status = status
            assert expected.matches(response.json()), response.text
        else:
            assert response.status_code == 409, response.text
            assert response.json()["error"] == "transition_not_allowed"

    @rule(actor=tenants, owner=owners, pick=picks, by_id=st.booleans())
    def delete_issue(self, actor: int, owner: int | None, pick: int, by_id: bool) -> None:
        tenant = self.tenants[actor]
        found = self.target(tenant, self.owner(actor, owner), pick, by_id)
        if found is None:
            return
        ref, expected = found
        response = self.call(tenant, "DELETE", f"/issues/{ref}")
        if expected is None:
            self.assert_not_found(response)
        else:
            assert response.status_code == 204, response.text
            expected.live = False

    @rule(actor=tenants, owner=owners, pick=picks, by_id=st.booleans())
    def add_comment(self, actor: int, owner: int | None, pick: int, by_id: bool) -> None:
        tenant = self.tenants[actor]
        found = self.target(tenant, self.owner(actor, owner), pick, by_id)
        if found is None:
            return
        ref, expected = found
        text = self.marker("comment", tenant)
        response = self.call(tenant, "POST", f"/issues/{ref}/comments", json={"body": text})
        if expected is None:
            self.assert_not_found(response)
            return
        assert response.status_code == 201, response.text
        made = response.json()
        assert (made["body"], made["author"]) == (text, tenant.user)
        tenant.values.add(made["id"])
        expected.comments.append(text)

    @rule(actor=tenants, owner=owners, pick=picks, by_id=st.booleans(), limit=limits)
    def list_comments(
        self, actor: int, owner: int | None, pick: int, by_id: bool, limit: int
    ) -> None:
        tenant = self.tenants[actor]
        found = self.target(tenant, self.owner(actor, owner), pick, by_id)
        if found is None:
            return
        ref, expected = found
        path = f"/issues/{ref}/comments"
        if expected is None:
            self.assert_not_found(self.call(tenant, "GET", path, params={"limit": limit}))
            return
        bodies = [c["body"] for c in self.pages(tenant, path, "comments", {"limit": limit})]
        # Comments made in one clock tick come back in id order, so compare them as a multiset.
        assert sorted(bodies) == sorted(expected.comments)

    @rule(
        t=tenants,
        project=st.none() | st.sampled_from(PROJECT_KEYS),
        status=st.none() | st.sampled_from(STATUSES),
        label=st.none() | st.sampled_from(LABELS),
        assigned=st.booleans(),
        limit=limits,
    )
    def list_issues(
        self,
        t: int,
        project: str | None,
        status: str | None,
        label: str | None,
        assigned: bool,
        limit: int,
    ) -> None:
        tenant = self.tenants[t]
        params: dict[str, Any] = {"limit": limit}
        for name, value in (("project", project), ("status", status), ("label", label)):
            if value is not None:
                params[name] = value
        if assigned:
            params["assignee"] = tenant.user
        expected = sorted(
            (
                i
                for i in tenant.issues.values()
                if i.live
                and project in (None, i.project)
                and status in (None, i.status)
                and (label is None or label in i.labels)
                and (not assigned or i.assignee == tenant.user)
            ),
            key=lambda i: (i.project, i.number),
        )
        listed = self.pages(tenant, "/issues", "issues", params)
        assert [i["key"] for i in listed] == [i.key for i in expected]
        for body, issue in zip(listed, expected, strict=True):
            assert issue.matches(body), body

    def pages(
        self, tenant: TenantModel, path: str, name: str, params: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """Every item of a paged listing, following `next_cursor` to the end."""
        items: list[dict[str, Any]] = []
        query = dict(params)
        for _ in range(100):
            response = self.call(tenant, "GET", path, params=query)
            assert response.status_code == 200, response.text
            page = response.json()
            assert len(page[name]) <= params["limit"]
            items.extend(page[name])
            if page["next_cursor"] is None:
                return items
            query = {**params, "cursor": page["next_cursor"]}
        raise AssertionError("the listing never ended")


def run_machine(databases: Databases) -> None:
    with TestClient(build_app(databases)) as client:
        machine = type("Machine", (IsolationMachine,), {"client": client})
        run_state_machine_as_test(machine, settings=SETTINGS)


@pytest.mark.parametrize("backend", BACKENDS)
def test_tenants_stay_isolated(tmp_path: Path, backend: str) -> None:
    with fresh_databases(SCHEMA, tmp_path, backend) as databases:
        run_machine(databases)
