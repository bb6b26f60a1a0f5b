"""What one issue create plus one read by key costs in storage, next to bare sqlite3 doing both.

Calls the issues store directly (no HTTP): a create in one tenant session and a read by key in
another, each rendered as the API answers it (`IssueOut.of`), as the two requests of the spine
benchmark do. `tenantry` creates with the spine's body (no labels); `+1 label` adds one label,
and so the label row the label filter reads. The floor, `bare`, is the bare create/read app's
SQL on a plain `sqlite3` connection with the same pragmas: one autocommitted INSERT, one
SELECT. All run in one process, in alternating rounds, measured in CPU time
(`time.process_time`), so the ratio holds on a shared, noisy machine. Goal: under 1 ms a pair.

Run: `.venv/bin/python bench/storage.py [--pairs N] [--rounds R]`.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tenantry.platform.context import TenantContext, tenant_scope
from tenantry.platform.crypto import DataKey
from tenantry.platform.data_keys import TenantKeys
from tenantry.platform.storage import Databases, SqliteBackend
from tenantry.services.issues import store
from tenantry.services.issues.identifiers import parse_issue_ref
from tenantry.services.issues.models import SCHEMA
from tenantry.services.issues.schemas import IssueOut

TENANT = TenantContext("bench-tenant", "bench", "eu", "eu-1", "active")
_KEY = DataKey(1, os.urandom(32))
KEYS = TenantKeys(_KEY, {1: _KEY})


def tenant_keys() -> TenantKeys:
    """The benchmark tenant's data key, as kms would hand it to the issues service."""
    return KEYS


def _tenantry_pair(databases: Databases, labels: list[str]) -> Callable[[], None]:
    """One create and one read by key through the issues store, as the two requests do them."""

    def pair() -> None:
        with databases.session() as session:
            created = IssueOut.of(
                store.create_issue(
                    session,
                    tenant_keys(),
                    project="BEN",
                    summary="benchmark issue",
                    description="created by bench/storage.py",
                    reporter="bench-user",
                    labels=labels,
                )
            )
        with databases.session() as session:
            IssueOut.of(store.find_issue(session, tenant_keys(), parse_issue_ref(created.key)))

    return pair


def _bare_pair(path: Path) -> Callable[[], None]:
    """The bare app's SQL: an autocommitted INSERT, then a SELECT of the row it made."""
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    for pragma in (
        "journal_mode=WAL",
        "synchronous=NORMAL",
        "busy_timeout=5000",
        "foreign_keys=ON",
    ):
        db.execute(f"PRAGMA {pragma}")
    db.execute(
        "CREATE TABLE issues (id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " project TEXT NOT NULL, summary TEXT NOT NULL, description TEXT NOT NULL)"
    )

    def pair() -> None:
        cursor = db.execute(
            "INSERT INTO issues (project, summary, description) VALUES (?, ?, ?)",
            ("BEN", "benchmark issue", "created by bench/storage.py"),
        )
        db.execute(
            "SELECT project, summary, description FROM issues WHERE id = ? AND project = ?",
            (cursor.lastrowid, "BEN"),
        ).fetchone()

    return pair


def _cpu_ms_per_call(fn: Callable[[], None], calls: int) -> float:
    started = time.process_time()
    for _ in range(calls):
        fn()
    return (time.process_time() - started) / calls * 1000


def main() -> None:
    """Measure both in alternating rounds and print per-pair CPU costs and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=2000, help="pairs per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of each")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, tenant_scope(TENANT):
        databases = Databases(SCHEMA, SqliteBackend(Path(tmp) / "data"))
        try:
            with databases.session() as session:
                store.create_project(session, tenant_keys(), "BEN", "Benchmark")
            targets = {
                "tenantry": _tenantry_pair(databases, []),
                "+1 label": _tenantry_pair(databases, ["bench"]),
                "bare": _bare_pair(Path(tmp) / "bare.sqlite"),
            }
            for fn in targets.values():  # warm caches, pools and the page cache
                _cpu_ms_per_call(fn, max(args.pairs // 10, 50))
            results: dict[str, list[float]] = {name: [] for name in targets}
            for _ in range(args.rounds):
                for name, fn in targets.items():
                    results[name].append(_cpu_ms_per_call(fn, args.pairs))
        finally:
            databases.dispose()

    print(f"create+read pairs: {args.rounds} rounds x {args.pairs}, CPU ms per pair")
    for name, samples in results.items():
        print(
            f"  {name:9s} best {min(samples):.3f}  median {statistics.median(samples):.3f}"
            f"  ({', '.join(f'{s:.3f}' for s in samples)})"
        )
    bare = statistics.median(results["bare"])
    for name in ("tenantry", "+1 label"):
        print(f"  {name} / bare (medians): {statistics.median(results[name]) / bare:.1f}x")


if __name__ == "__main__":
    main()
