"""The PostgreSQL run leaves out no test that stores data on the run's backend.

A test is in that run when it is marked `backend` (tests/backends.py); opening the run's
backend from a test without the mark fails, naming the fixture that marks it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import backends
from backends import fresh_databases
from tenantry.services.issues.models import SCHEMA


def test_opening_the_runs_backend_unmarked_fails_and_says_how_to_mark_it(tmp_path: Path) -> None:
    with (
        pytest.raises(backends.UndeclaredBackendUse, match="storage_backend"),
        fresh_databases(SCHEMA, tmp_path),
    ):
        pass


def test_a_named_backend_is_the_same_in_both_runs_and_needs_no_mark(tmp_path: Path) -> None:
    with fresh_databases(SCHEMA, tmp_path, backend="sqlite") as databases:
        assert databases.engine_for("eu-1").dialect.name == "sqlite"


def test_a_test_using_the_storage_backend_fixture_is_marked_and_may_open_it(
    request: pytest.FixtureRequest, tmp_path: Path, storage_backend: str
) -> None:
    assert request.node.get_closest_marker(backends.MARKER) is not None
    with fresh_databases(SCHEMA, tmp_path) as databases:
        assert databases.engine_for("eu-1").dialect.name == storage_backend.replace(
            "postgres", "postgresql"
        )
