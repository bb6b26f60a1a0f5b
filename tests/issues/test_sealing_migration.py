"""Revision 0004 turns stored project names and labels into marked bytes, which read back, and
the reseal route seals them; a moved sealed name is refused, never shown."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text
from structlog.testing import capture_logs

from issues_harness import tenant_keys
from tenantry.platform.context import TenantContext, tenant_scope
from tenantry.platform.crypto import key_version
from tenantry.platform.errors import ApiError
from tenantry.platform.sealing import seal_text
from tenantry.platform.storage import Databases, SqliteBackend
from tenantry.platform.storage.migrations import upgrade
from tenantry.services.issues import store
from tenantry.services.issues.identifiers import parse_issue_ref
from tenantry.services.issues.models import SCHEMA
from tenantry.services.issues.reseal import reseal_batch
from tenantry.services.issues.sealed_fields import UNSEALED

TENANT = TenantContext("tenant-a", "a", "eu", "eu-1", "active")
NAME = "Project Nightingale"
LABELS = ["merger-talks", "q3"]


def _at_0003(engine: Engine) -> None:
    config = Config()
    config.set_main_option("script_location", str(SCHEMA.migrations))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0003")


def _old_rows(engine: Engine) -> None:
    """A project, an issue with labels and their label rows, as revision 0003 stored them."""
    with tenant_scope(TENANT):
        summary = seal_text(tenant_keys(), "issues", "i1", "summary", "s")
        description = seal_text(tenant_keys(), "issues", "i1", "description", "")
    now = datetime.now(UTC)
    with engine.begin() as c:
        for key, name in (("OPS", NAME), ("DEV", "Dev")):
            c.execute(
                text("INSERT INTO projects VALUES ('tenant-a', :k, :n, 1, :t)"),
                {"k": key, "n": name, "t": now},
            )
        c.execute(
            text(
                "INSERT INTO issues (tenant_id, id, project_key, number, summary, description,"
                " status, assignee, reporter, labels, created_at, updated_at, version)"
                " VALUES ('tenant-a', 'i1', 'OPS', 1, :s, :d, 'open', NULL, 'r', :l, :t, :t, 1)"
            ),
            {"s": summary, "d": description, "l": '["merger-talks", "q3"]', "t": now},
        )
        for label in LABELS:
            c.execute(text("INSERT INTO issue_labels VALUES ('tenant-a', 'i1', :l)"), {"l": label})


def _labelled(databases: Databases, label: str) -> list[str]:
    with tenant_scope(TENANT), databases.session() as s:
        where = store.IssueFilter(label=label)
        issues, _ = store.list_issues(s, tenant_keys(), where, (_Cursors(), 10, None))
        return [issue.key for issue in issues]


class _Cursors:
    """No cursor is handed out for a listing of one page."""

    def seal(self, *_: object) -> str:
        raise AssertionError("one page only")


def test_old_names_and_labels_read_back_then_the_reseal_seals_them(tmp_path: Path) -> None:
    sqlite = SqliteBackend(tmp_path / "data")
    engine = sqlite.engine("issues", "eu-1")
    try:
        _at_0003(engine)
        _old_rows(engine)
        with engine.begin() as connection:
            upgrade(connection, SCHEMA)
        with engine.connect() as c:
            names = dict(c.execute(text("SELECT key, name FROM projects")).tuples().all())
            labels = c.execute(text("SELECT labels FROM issues")).scalar_one()
        assert names["OPS"] == UNSEALED + NAME.encode()
        assert labels == UNSEALED + b'["merger-talks", "q3"]'
    finally:
        engine.dispose()

    databases = Databases(SCHEMA, sqlite)
    try:
        with tenant_scope(TENANT), databases.session() as s:
            assert [p.name for p in store.list_projects(s, tenant_keys())] == ["Dev", NAME]
            issue = store.find_issue(s, tenant_keys(), parse_issue_ref("OPS-1"))
            assert issue.labels == LABELS
        assert _labelled(databases, "q3") == ["OPS-1"]  # by the label's text, until the reseal

        cursor: str | None = None
        resealed = 0
        while True:
            with tenant_scope(TENANT), databases.session() as s:
                batch = reseal_batch(s, tenant_keys(), cursor, 1)
            resealed += batch.resealed
            cursor = batch.next_cursor
            if cursor is None:
                break
        assert resealed == 3  # the issue (its labels) and both projects

        engine = sqlite.engine("issues", "eu-1")
        try:
            with engine.connect() as c:
                stored = c.execute(text("SELECT name FROM projects ORDER BY key")).scalars().all()
                labels = c.execute(text("SELECT labels FROM issues")).scalar_one()
                indexed = c.execute(text("SELECT label FROM issue_labels")).scalars().all()
        finally:
            engine.dispose()
        assert [key_version(v) for v in [*stored, labels]] == [1, 1, 1]
        assert NAME.encode() not in b"".join(stored) and b"merger" not in labels
        assert all(len(x) == 64 and x not in LABELS for x in indexed)
        assert _labelled(databases, "q3") == ["OPS-1"]  # now by its blind index
        assert _labelled(databases, "nope") == []
        with tenant_scope(TENANT), databases.session() as s:
            assert store.get_project(s, tenant_keys(), "OPS").name == NAME
            again = reseal_batch(s, tenant_keys(), None, 100)
        assert again.resealed == 0

        # A sealed name copied onto another project never opens there.
        engine = sqlite.engine("issues", "eu-1")
        try:
            with engine.begin() as c:
                c.execute(
                    text(
                        "UPDATE projects SET name = (SELECT name FROM projects WHERE key = 'OPS')"
                        " WHERE key = 'DEV'"
                    )
                )
        finally:
            engine.dispose()
        with (
            capture_logs() as logs,
            tenant_scope(TENANT),
            databases.session() as s,
            pytest.raises(ApiError) as refused,
        ):
            store.get_project(s, tenant_keys(), "DEV")
        assert (refused.value.status, refused.value.code) == (500, "ciphertext_rejected")
        events = [e for e in logs if e.get("reason") == "ciphertext_rejected"]
        assert events and events[0]["table"] == "projects"  # a security event was recorded
    finally:
        databases.dispose()
