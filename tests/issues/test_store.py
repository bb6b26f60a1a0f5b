"""The store's own promises: versions guard writes, labels stay in step, no hand-made scoping."""

from __future__ import annotations

import ast
import inspect
from typing import Any

import pytest

from issues_harness import tenant_keys
from tenantry.platform.context import TenantContext, tenant_scope
from tenantry.platform.errors import ApiError
from tenantry.platform.storage import Databases
from tenantry.services.issues import routes, store
from tenantry.services.issues.identifiers import parse_issue_ref

TENANT = TenantContext("tenant-x", "x", "eu", "eu-1", "active")


def keys_of(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [issue["key"] for issue in response.json()["issues"]]


def test_label_filter_follows_label_changes(alice: Any) -> None:
    alice.project()
    alice.issue(labels=["x", "shared"])
    alice.issue(labels=["shared"])
    assert keys_of(alice.get("/issues", params={"label": "x"})) == ["OPS-1"]
    assert alice.patch("/issues/OPS-1", json={"labels": ["y"]}).status_code == 200
    assert keys_of(alice.get("/issues", params={"label": "x"})) == []
    assert keys_of(alice.get("/issues", params={"label": "y"})) == ["OPS-1"]
    assert keys_of(alice.get("/issues", params={"label": "shared"})) == ["OPS-2"]
    assert alice.patch("/issues/OPS-1", json={"summary": "labels untouched"}).status_code == 200
    assert keys_of(alice.get("/issues", params={"label": "y"})) == ["OPS-1"]
    assert alice.patch("/issues/OPS-1", json={"labels": []}).json()["labels"] == []
    assert keys_of(alice.get("/issues", params={"label": "y"})) == []
    assert alice.delete("/issues/OPS-2").status_code == 204
    assert keys_of(alice.get("/issues", params={"label": "shared"})) == []


@pytest.mark.parametrize("wanted", ["P1", "p_1", "p.1", "p1-"])
def test_label_filter_is_exact(alice: Any, wanted: str) -> None:
    alice.project()
    alice.issue(labels=["p1", "pX1", "p-1"])
    assert keys_of(alice.get("/issues", params={"label": wanted})) == []
    assert keys_of(alice.get("/issues", params={"label": "p1"})) == ["OPS-1"]


def test_deleting_an_issue_changed_meanwhile_is_409(databases: Databases) -> None:
    ref = parse_issue_ref("OPS-1")
    with tenant_scope(TENANT):
        with databases.session() as s:
            store.create_project(s, tenant_keys(), "OPS", "Ops")
            store.create_issue(
                s, tenant_keys(), project="OPS", summary="s", description="", reporter="r"
            )
        changes = store.IssueChanges(fields=frozenset({"summary"}), summary="changed")
        with pytest.raises(ApiError) as refused, databases.session() as stale:
            issue = store.find_issue(stale, tenant_keys(), ref)
            with databases.session() as other:
                store.change_issue(
                    other, tenant_keys(), store.find_issue(other, tenant_keys(), ref), changes
                )
            store.trash_issue(stale, issue, 1.0)
        assert (refused.value.status, refused.value.code) == (409, "edit_conflict")
        with databases.session() as s:
            assert store.find_issue(s, tenant_keys(), ref).summary == "changed"


def test_a_change_answers_what_was_stored(databases: Databases) -> None:
    with tenant_scope(TENANT):
        with databases.session() as s:
            store.create_project(s, tenant_keys(), "OPS", "Ops")
            made = store.create_issue(
                s,
                tenant_keys(),
                project="OPS",
                summary="s",
                description="d",
                reporter="r",
                labels=["a"],
            )
        changes = store.IssueChanges(
            fields=frozenset({"status", "assignee", "labels"}),
            status="In Progress",
            assignee="acc-9",
            labels=["b", "c"],
        )
        with databases.session() as s:
            changed = store.change_issue(
                s,
                tenant_keys(),
                store.find_issue(s, tenant_keys(), parse_issue_ref(made.id)),
                changes,
            )
        with databases.session() as s:
            assert store.find_issue(s, tenant_keys(), parse_issue_ref(made.key)) == changed
        assert changed.version == made.version + 1
        assert (changed.status, changed.assignee, changed.labels) == (
            "In Progress",
            "acc-9",
            ["b", "c"],
        )
        assert (changed.summary, changed.description, changed.reporter) == ("s", "d", "r")


@pytest.mark.parametrize("module", [store, routes])
def test_storage_code_never_names_the_tenant_column(module: Any) -> None:
    """Scoping is the tenant session's job alone: no filter or value here may name tenant_id."""
    tree = ast.parse(inspect.getsource(module))
    names: set[object] = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    names |= {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)}
    assert "tenant_id" not in names
