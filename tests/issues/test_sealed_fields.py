"""Summaries, descriptions and comments are stored sealed, and a moved ciphertext never opens."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from structlog.testing import capture_logs

from backends import BACKEND
from tenantry.platform.storage import Databases

SECRETS = ("payroll for jane doe", "the vault code is 0451", "ping legal about the merger")


def stored_bytes(databases: Databases, tmp_path: Path) -> bytes:
    """Everything the shard holds for the issues service, as raw bytes."""
    if BACKEND == "sqlite":
        files = sorted((tmp_path / "data").rglob("issues.sqlite*"))
        assert files, "no database files to scan"
        return b"".join(f.read_bytes() for f in files)
    engine: Engine = databases.engine_for("eu-1")
    url = engine.url.set(username="postgres")
    admin = create_engine(url)
    try:
        with admin.connect() as c:
            rows = [
                c.execute(text(f"SELECT t::text FROM issues.{table} t")).scalars().all()  # noqa: S608
                for table in ("issues", "comments", "projects", "issue_labels")
            ]
    finally:
        admin.dispose()
    dumped = "\n".join(row for table in rows for row in table)
    assert "tenant-a" in dumped, "the scan sees the rows"
    return dumped.encode()


def test_no_plaintext_reaches_the_database(
    alice: Any, databases: Databases, tmp_path: Path
) -> None:
    alice.project()
    made = alice.issue(summary=SECRETS[0], description=SECRETS[1])
    assert (
        alice.post(f"/issues/{made['key']}/comments", json={"body": SECRETS[2]}).status_code == 201
    )
    patched = alice.patch(f"/issues/{made['key']}", json={"summary": SECRETS[0] + " v2"})
    assert patched.json()["summary"] == SECRETS[0] + " v2"
    read = alice.get(f"/issues/{made['key']}").json()
    assert (read["summary"], read["description"]) == (SECRETS[0] + " v2", SECRETS[1])
    comments = alice.get(f"/issues/{made['key']}/comments").json()["comments"]
    assert [c["body"] for c in comments] == [SECRETS[2]]
    raw = stored_bytes(databases, tmp_path)
    for secret in SECRETS:
        assert secret.encode() not in raw, secret
        assert secret.encode().hex() not in raw.decode(errors="replace"), secret


def _move(databases: Databases, sql: str, **params: str) -> None:
    """Change rows as someone with raw access to the database (bypassing the service)."""
    engine = databases.engine_for("eu-1")
    if BACKEND == "postgres":
        engine = create_engine(engine.url.set(username="postgres"))
        sql = sql.replace("FROM issues", "FROM issues.issues").replace(
            "UPDATE issues", "UPDATE issues.issues"
        )
    with engine.begin() as c:
        c.execute(text(sql), params)


@pytest.mark.parametrize(
    "attack",
    [
        "UPDATE issues SET summary = (SELECT summary FROM issues WHERE id = :source)"
        " WHERE id = :target",  # another row
        "UPDATE issues SET summary = (SELECT description FROM issues WHERE id = :target)"
        " WHERE id = :target",  # another column
        "UPDATE issues SET description = (SELECT description FROM issues WHERE id = :other)"
        " WHERE id = :target",  # another tenant's
    ],
    ids=["row", "column", "tenant"],
)
def test_a_ciphertext_moved_elsewhere_does_not_open(
    alice: Any, bob: Any, databases: Databases, attack: str
) -> None:
    alice.project()
    bob.project()
    source = alice.issue(summary="alice's first", description="one")
    target = alice.issue(summary="alice's second", description="two")
    other = bob.issue(summary="bob's", description="bob's secret")
    _move(databases, attack, source=source["id"], target=target["id"], other=other["id"])
    with capture_logs() as logs:
        refused = alice.get(f"/issues/{target['key']}")
    assert refused.status_code == 500
    assert refused.json()["error"] == "ciphertext_rejected"
    for secret in ("alice's first", "two", "bob's secret"):
        assert secret not in refused.text
    events = [e for e in logs if e.get("reason") == "ciphertext_rejected"]
    assert events and events[0]["tenant_id"] == "tenant-a"  # a security event was recorded
    assert alice.get(f"/issues/{source['key']}").json()["summary"] == "alice's first"
    assert bob.get(f"/issues/{other['key']}").json()["description"] == "bob's secret"
